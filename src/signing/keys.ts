import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {KeyType} from '../contracts.js'
import {expandHome} from '../config/settings.js'
import {fromProviderError, SettingsError, SigningError, UsageError} from '../errors.js'
import type {Runtime} from '../runtime.js'
import {createSigner, signingProviderName} from './signing.js'
import {currentUserName} from '../util/user.js'

export interface GeneratedKeyFiles {
  secretKeyFile: string
  publicKeyFile: string
  fingerprint: string
}

export const DEFAULT_KEY_DIR = '~/.pupistry/keys'

/** Makes a signing key with the openpgp signer and writes it as armoured files (secret 0600). */
export async function generateKeyFiles(
  runtime: Runtime,
  options: {userId?: string; dir?: string; name?: string; passphrase?: string; force?: boolean; type?: KeyType},
): Promise<GeneratedKeyFiles> {
  const dir = path.resolve(expandHome(options.dir ?? DEFAULT_KEY_DIR))
  const base = options.name ?? 'pupistry-signing'
  const secretKeyFile = path.join(dir, `${base}.secret.asc`)
  const publicKeyFile = path.join(dir, `${base}.public.asc`)
  for (const file of [secretKeyFile, publicKeyFile]) {
    if (existsSync(file) && !options.force) throw new UsageError(`${file} already exists; use --force to replace it`)
  }

  const signer = await createSigner(runtime, 'openpgp', 'build')
  if (!signer.generateKey) throw new SigningError('the openpgp signer cannot generate keys')
  const userId = options.userId ?? `pupistry signing key <${currentUserName()}@${os.hostname()}>`
  const key = await signer.generateKey({passphrase: options.passphrase, type: options.type, userId}).catch((error) => {
    throw fromProviderError(error, 'generating a key', SigningError)
  })
  await mkdir(dir, {mode: 0o700, recursive: true})
  await writeFile(secretKeyFile, key.secretKey, {mode: 0o600})
  await writeFile(publicKeyFile, key.publicKey, {mode: 0o644})
  return {fingerprint: key.fingerprint, publicKeyFile, secretKeyFile}
}

export const MAC_KEY_NAME = 'hieracrypt-mac.key'

/**
 * A random key for build.hieracrypt_mac_key_file (32 bytes, base64, 0600):
 * it keys the MACs that let a build reuse unchanged sealed bundles.
 */
export async function generateMacKeyFile(options: {dir?: string; force?: boolean}): Promise<string> {
  const dir = path.resolve(expandHome(options.dir ?? DEFAULT_KEY_DIR))
  const file = path.join(dir, MAC_KEY_NAME)
  if (existsSync(file) && !options.force) throw new UsageError(`${file} already exists; use --force to replace it`)
  await mkdir(dir, {mode: 0o700, recursive: true})
  await writeFile(file, `${randomBytes(32).toString('base64')}\n`, {mode: 0o600})
  return file
}

/** The public key of the configured signing key, for nodes' trusted_keys. */
export async function exportPublicKey(runtime: Runtime): Promise<string> {
  const name = signingProviderName(runtime)
  const signer = await createSigner(runtime, name, 'build')
  if (!signer.publicKey) throw new SettingsError(`signer ${name} cannot export a public key`)
  return signer.publicKey().catch((error) => {
    throw fromProviderError(error, `signer ${name}`, SigningError)
  })
}
