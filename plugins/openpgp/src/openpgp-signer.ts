import {readFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import * as openpgp from 'openpgp'
import type {
  GeneratedKey,
  KeyFileKind,
  KeyType,
  ProviderContext,
  Signature,
  Signer,
  TrustedKeyFile,
  VerifiedSignature,
  Verifier,
} from 'pupistry'

const PASSPHRASE_VARIABLE = 'PUPISTRY_SIGNING_PASSPHRASE'

function failure(kind: 'settings' | 'signing', message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, {cause}), {kind})
}

function expand(file: string): string {
  return path.resolve(file === '~' || file.startsWith('~/') ? path.join(os.homedir(), file.slice(1)) : file)
}

export class OpenPgpSigner implements Signer {
  private key?: Promise<openpgp.PrivateKey>

  constructor(private readonly context: ProviderContext) {}

  async sign(data: Uint8Array): Promise<Signature> {
    const key = await this.signingKey()
    const message = await openpgp.createMessage({binary: data})
    const sig = await openpgp.sign({detached: true, format: 'binary', message, signingKeys: key})
    return {keyid: key.getFingerprint().toUpperCase(), sig: sig as Uint8Array}
  }

  async publicKey(): Promise<string> {
    return (await this.signingKey()).toPublic().armor()
  }

  async generateKey(options: {userId: string; passphrase?: string; type?: KeyType}): Promise<GeneratedKey> {
    const match = /^(.*?)\s*<([^>]+)>$/.exec(options.userId)
    const userIDs = [match ? {email: match[2], name: match[1]} : {name: options.userId}]
    // RSA for GnuPG 1.4 and 2.0, which cannot read ECC keys; 3072 bits as GnuPG's own default.
    const kind = options.type === 'rsa' ? ({rsaBits: 3072, type: 'rsa'} as const) : ({type: 'ecc'} as const)
    const {privateKey, publicKey} = await openpgp.generateKey({
      format: 'armored',
      passphrase: options.passphrase || undefined,
      userIDs,
      ...kind,
    })
    const fingerprint = (await openpgp.readKey({armoredKey: publicKey})).getFingerprint().toUpperCase()
    return {fingerprint, publicKey, secretKey: privateKey}
  }

  private signingKey(): Promise<openpgp.PrivateKey> {
    this.key ??= this.loadSigningKey()
    return this.key
  }

  private async loadSigningKey(): Promise<openpgp.PrivateKey> {
    const configured = this.context.settings.general.signing_key_file
    if (typeof configured !== 'string' || !configured) throw failure('settings', 'general.signing_key_file is not set')
    const file = expand(configured)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      throw failure(
        'settings',
        `general.signing_key_file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? error})`,
        error,
      )
    }

    let key: openpgp.PrivateKey
    try {
      key = await openpgp.readPrivateKey({armoredKey: text})
    } catch (error) {
      throw failure(
        'signing',
        `${file} is not an armoured OpenPGP secret key (${(error as Error).message}); export one with ` +
          `\`gpg --export-secret-keys --armor KEYID\``,
        error,
      )
    }

    if (key.isDecrypted()) return key
    const passphrase = process.env[PASSPHRASE_VARIABLE] ?? (await this.context.askSecret(`Passphrase for ${file}: `))
    if (passphrase === undefined) {
      throw failure(
        'signing',
        `${file} is protected by a passphrase: set ${PASSPHRASE_VARIABLE} or run on a terminal to be asked`,
      )
    }

    try {
      return await openpgp.decryptKey({passphrase, privateKey: key})
    } catch (error) {
      throw failure('signing', `wrong passphrase for ${file}`, error)
    }
  }
}

/** Checks signatures against trusted OpenPGP public keys; GnuPG's signatures too, so it verifies for the gpg signer. */
export class OpenPgpVerifier implements Verifier {
  async verify(
    data: Uint8Array,
    signature: Signature,
    trusted: TrustedKeyFile[],
  ): Promise<VerifiedSignature | undefined> {
    const keys = await readTrustedKeys(trusted)
    let parsed: openpgp.Signature
    try {
      parsed = await openpgp.readSignature({binarySignature: signature.sig})
    } catch {
      return undefined
    }

    const message = await openpgp.createMessage({binary: data})
    const result = await openpgp.verify({message, signature: parsed, verificationKeys: keys})
    for (const candidate of result.signatures) {
      try {
        await candidate.verified
      } catch {
        continue
      }

      const key = keys.find((trustedKey) => trustedKey.getKeys(candidate.keyID).length > 0)
      if (key) return {identity: key.getUserIDs()[0] ?? '', keyid: key.getFingerprint().toUpperCase()}
    }

    return undefined
  }

  keyFileKind(text: string): KeyFileKind {
    if (/-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(text)) return 'secret'
    return /-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(text) ? 'public' : 'unusable'
  }
}

async function readTrustedKeys(trusted: TrustedKeyFile[]): Promise<openpgp.PublicKey[]> {
  const keys: openpgp.PublicKey[] = []
  for (const {file, text} of trusted) {
    let found: openpgp.Key[]
    try {
      found = await openpgp.readKeys({armoredKeys: text})
    } catch (error) {
      throw failure(
        'settings',
        `trusted key file ${file} holds no armoured OpenPGP public key (${(error as Error).message})`,
        error,
      )
    }

    keys.push(...found.map((key) => key.toPublic()))
  }

  return keys
}
