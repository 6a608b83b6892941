import {createHash, createHmac, randomBytes} from 'node:crypto'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {expandHome} from '../config/settings.js'
import {SettingsError} from '../errors.js'
import {serializeEnvelope} from '../format/envelope.js'
import {sealedBundleKey, sealedIndexKey} from '../format/layout.js'
import type {SealedIndexRef} from '../format/manifest.js'
import type {Runtime} from '../runtime.js'
import {signPayload} from '../signing/signing.js'
import {encryptTo, fingerprintOf} from './crypto.js'
import {BUNDLE_PAYLOAD_TYPE, INDEX_PAYLOAD_TYPE, memberTag, type SealedBundle, type SealedIndex} from './format.js'
import {NODES_DIR, GROUPS_DIR} from './registry.js'
import type {Selection} from './select.js'

/** The build cache's modes (build/build-cache.ts), which the sealed cache keeps too. */
export interface CacheModes {
  dir: number
  file: number
}

export interface SealResult {
  index: SealedIndexRef
  bundles: number
  /** Bundles encrypted by this build (the others were reused unchanged). */
  encrypted: number
  readers: number
}

/** The build cache's sealed data of one environment: ciphertext by SHA-256, signed indexes, and the MAC map. */
export function sealedCacheDir(environmentDir: string): string {
  return path.join(environmentDir, 'sealed')
}

export function cachedBundlePath(environmentDir: string, sha256: string): string {
  return path.join(sealedCacheDir(environmentDir), 'bundles', `${sha256}.pgp`)
}

export function cachedIndexPath(environmentDir: string, sha256: string): string {
  return path.join(sealedCacheDir(environmentDir), 'index', `${sha256}.json`)
}

/**
 * Seals one environment's protected files: per distinct file set one
 * bundle, signed by the build signing key and then encrypted to exactly its
 * readers' keys, plus a signed index from opaque tags to bundles.
 *
 * Encryption is randomised, so with build.hieracrypt_mac_key_file an HMAC
 * of each bundle's plaintext (which names its recipients) finds the
 * ciphertext made for the same plaintext before, and the index is reused
 * when its entries are unchanged: a rebuild of an unchanged tree publishes
 * nothing. The MAC is keyed so that the cache does not let anyone confirm a
 * guess of a secret value.
 */
export async function sealEnvironment(
  runtime: Runtime,
  job: {root: string; cacheDir: string; selection: Selection; version: string; modes: CacheModes},
): Promise<SealResult> {
  const {modes} = job
  const {environment} = job.selection
  const macKey = await readMacKey(runtime)
  const dirs = ['bundles', 'index', 'mac'].map((name) => path.join(sealedCacheDir(job.cacheDir), name))
  for (const dir of dirs) await mkdir(dir, {mode: modes.dir, recursive: true})
  const entries: SealedIndex['entries'] = {}
  let encrypted = 0
  let readers = 0
  for (const bundle of job.selection.bundles) {
    const keys: string[] = []
    const recipients: SealedBundle['recipients'] = []
    for (const member of bundle.members) {
      const where = `${member.kind === 'node' ? NODES_DIR : GROUPS_DIR}/${member.name}.yaml`
      for (const key of member.keys) {
        keys.push(key)
        recipients.push({facts: member.facts, fingerprint: await fingerprintOf(key, where), trusted: member.trusted})
      }
    }

    recipients.sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : 1))
    const files = await Promise.all(
      bundle.files.map(async (file) => ({
        content: (await readFile(path.join(job.root, file))).toString('base64'),
        path: file,
      })),
    )
    const payload = Buffer.from(JSON.stringify({environment, files, recipients}), 'utf8')
    const mac = macKey ? createHmac('sha256', macKey).update(payload).digest('hex') : undefined
    let ref = mac ? await reusable(job.cacheDir, mac) : undefined
    if (!ref) {
      const {envelope} = await signPayload(runtime, BUNDLE_PAYLOAD_TYPE, payload)
      const ciphertext = await encryptTo(serializeEnvelope(envelope), keys)
      const sha256 = createHash('sha256').update(ciphertext).digest('hex')
      await writeCacheFile(modes, cachedBundlePath(job.cacheDir, sha256), ciphertext)
      if (mac) await writeCacheFile(modes, path.join(sealedCacheDir(job.cacheDir), 'mac', mac), sha256)
      ref = {sha256, size: ciphertext.length}
      encrypted++
    }

    for (const recipient of recipients) {
      entries[memberTag(recipient.fingerprint, environment)] = {
        key: sealedBundleKey(environment, ref.sha256),
        ...ref,
      }
    }

    readers += bundle.members.length
  }

  const index = await signedIndex(
    runtime,
    job.cacheDir,
    {entries: sortedByKey(entries), environment, version: job.version},
    modes,
  )
  await writeLedger(job.cacheDir, index.sha256, job.selection, job.root, modes)
  return {bundles: job.selection.bundles.length, encrypted, index, readers}
}

/** The signed index; the one signed before is reused when its content is the same (a signature carries its time). */
async function signedIndex(
  runtime: Runtime,
  cacheDir: string,
  index: SealedIndex,
  modes: CacheModes,
): Promise<SealedIndexRef> {
  const payload = Buffer.from(JSON.stringify(index), 'utf8')
  const payloadSha = createHash('sha256').update(payload).digest('hex')
  const last = path.join(sealedCacheDir(cacheDir), 'index', 'last.json')
  const previous = await readFile(last, 'utf8')
    .then((text) => JSON.parse(text) as {payload: string; sha256: string})
    .catch(() => undefined)
  if (previous?.payload === payloadSha) {
    const bytes = await readFile(cachedIndexPath(cacheDir, previous.sha256)).catch(() => undefined)
    if (bytes)
      return {key: sealedIndexKey(index.environment, previous.sha256), sha256: previous.sha256, size: bytes.length}
  }

  const {envelope} = await signPayload(runtime, INDEX_PAYLOAD_TYPE, payload)
  const bytes = serializeEnvelope(envelope)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  await writeCacheFile(modes, cachedIndexPath(cacheDir, sha256), bytes)
  await writeCacheFile(modes, last, JSON.stringify({payload: payloadSha, sha256}))
  return {key: sealedIndexKey(index.environment, sha256), sha256, size: bytes.length}
}

/** Who could read what through an index: kept on the build side only (it names nodes), for `hieracrypt exposure`. */
export interface Ledger {
  environment: string
  readers: Record<string, string[]>
  /**
   * A keyed digest of each protected file, so `diff` can say "changed
   * (sealed)" without keeping plaintext; keyed so the cache does not let
   * anyone confirm a guess of a secret value.
   */
  digests: Record<string, string>
}

export function ledgerPath(environmentDir: string, indexSha256: string): string {
  return path.join(sealedCacheDir(environmentDir), 'ledger', `${indexSha256}.json`)
}

async function writeLedger(
  cacheDir: string,
  indexSha256: string,
  selection: Selection,
  root: string,
  modes: CacheModes,
): Promise<void> {
  const readers = Object.fromEntries(
    selection.members.map(({files, member}) => [`${member.kind} ${member.name}`, files]),
  )
  const key = await digestKey(cacheDir, modes)
  const digests: Record<string, string> = {}
  for (const file of selection.protected)
    digests[file] = createHmac('sha256', key)
      .update(await readFile(path.join(root, file)))
      .digest('hex')
  const ledger: Ledger = {digests, environment: selection.environment, readers}
  await mkdir(path.dirname(ledgerPath(cacheDir, indexSha256)), {mode: modes.dir, recursive: true})
  await writeCacheFile(modes, ledgerPath(cacheDir, indexSha256), `${JSON.stringify(ledger, null, 2)}\n`)
}

/** The build cache's own random key for ledger digests, made once. */
async function digestKey(cacheDir: string, modes: CacheModes): Promise<Buffer> {
  const file = path.join(sealedCacheDir(cacheDir), 'digest.key')
  const existing = await readFile(file).catch(() => undefined)
  if (existing?.length === 32) return existing
  const key = randomBytes(32)
  await writeCacheFile(modes, file, key)
  return key
}

async function reusable(cacheDir: string, mac: string): Promise<{sha256: string; size: number} | undefined> {
  const sha256 = await readFile(path.join(sealedCacheDir(cacheDir), 'mac', mac), 'utf8').catch(() => undefined)
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) return undefined
  const bytes = await readFile(cachedBundlePath(cacheDir, sha256)).catch(() => undefined)
  if (!bytes || createHash('sha256').update(bytes).digest('hex') !== sha256) return undefined
  return {sha256, size: bytes.length}
}

async function readMacKey(runtime: Runtime): Promise<Buffer | undefined> {
  const file = runtime.settings.build.hieracrypt_mac_key_file
  if (!file) return undefined
  const resolved = path.resolve(expandHome(file))
  const text = await readFile(resolved, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new SettingsError(`build.hieracrypt_mac_key_file: cannot read ${resolved} (${error.code ?? error.message})`)
  })
  const key = Buffer.from(text.trim(), 'base64')
  if (key.length < 32)
    throw new SettingsError(
      `build.hieracrypt_mac_key_file: ${resolved} does not hold a key of at least 32 bytes (base64)`,
      {
        hint: 'make one with `pupistry keys generate --mac-key`',
      },
    )
  return key
}

function sortedByKey<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)))
}

async function writeCacheFile(modes: CacheModes, file: string, data: Uint8Array | string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`
  await writeFile(temp, data, {mode: modes.file})
  await rename(temp, file)
}
