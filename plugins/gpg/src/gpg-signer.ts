import {spawn} from 'node:child_process'

import type {ProviderContext, Signature, Signer} from 'pupistry'

function failure(kind: 'settings' | 'signing' | 'tool', message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, {cause}), {kind})
}

/**
 * Drives `gpg` with argument arrays (never a shell): the key stays in the
 * user's keyring or on a smartcard and gpg-agent asks for any passphrase.
 */
export class GpgSigner implements Signer {
  private fingerprint?: Promise<string>

  constructor(private readonly context: ProviderContext) {}

  async sign(data: Uint8Array): Promise<Signature> {
    const keyid = await this.keyFingerprint()
    const sig = await gpg(['--batch', '--yes', '--local-user', keyid, '--detach-sign', '--output', '-'], data)
    return {keyid, sig}
  }

  async publicKey(): Promise<string> {
    const armored = (await gpg(['--batch', '--armor', '--export', await this.keyFingerprint()])).toString('utf8')
    if (!armored.includes('BEGIN PGP PUBLIC KEY BLOCK'))
      throw failure('signing', 'gpg exported no public key for general.gpg_signing_key')
    return armored
  }

  private keyFingerprint(): Promise<string> {
    this.fingerprint ??= this.findKey()
    return this.fingerprint
  }

  private async findKey(): Promise<string> {
    const configured = this.context.settings.general.gpg_signing_key
    if (configured === undefined || configured === null || configured === '')
      throw failure('settings', 'general.gpg_signing_key is not set')
    const wanted = String(configured)
    let listing: string
    try {
      listing = (await gpg(['--batch', '--with-colons', '--list-secret-keys', '--', wanted])).toString('utf8')
    } catch (error) {
      if ((error as {kind?: string}).kind === 'tool') throw error
      throw failure(
        'settings',
        `general.gpg_signing_key ${wanted}: no such secret key in the GnuPG ` +
          `keyring${process.env.GNUPGHOME ? ` (GNUPGHOME=${process.env.GNUPGHOME})` : ''}`,
        error,
      )
    }

    const fpr = listing.split('\n').find((line) => line.startsWith('fpr:'))
    if (!fpr) throw failure('settings', `general.gpg_signing_key ${wanted}: no such secret key in the GnuPG keyring`)
    return fpr.split(':')[9].toUpperCase()
  }
}

function gpg(args: string[], input?: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('gpg', args, {stdio: ['pipe', 'pipe', 'pipe']})
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT' ? failure('tool', 'gpg is not installed (install the gnupg package)', error) : error,
      )
    })
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out))
      else {
        const message = Buffer.concat(err).toString('utf8').trim().split('\n').pop() || `exit ${code}`
        reject(failure('signing', `gpg ${args.includes('--detach-sign') ? 'could not sign' : 'failed'}: ${message}`))
      }
    })
    child.stdin.on('error', () => {})
    child.stdin.end(input ?? undefined)
  })
}
