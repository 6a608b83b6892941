import {readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'

import type {Signature, Signer, TrustedKeyFile, VerifiedSignature, Verifier} from '../contracts.js'
import {assertNotWritableByOthers, expandHome, settingsSource} from '../config/settings.js'
import {fromProviderError, SettingsError, SigningError, VerificationError} from '../errors.js'
import {CHANNEL_PATTERN} from '../format/channel.js'
import {envelopePayload, envelopeSignatures, type Envelope, makeEnvelope, preAuthEncoding} from '../format/envelope.js'
import {providerContext, type Runtime} from '../runtime.js'

/** The signer that signs on the build side, chosen from settings. */
export function signingProviderName(runtime: Runtime): string {
  const {general} = runtime.settings
  if (general.signer) return general.signer
  if (general.signing_key_file) return 'openpgp'
  if (general.gpg_signing_key !== undefined && general.gpg_signing_key !== null) return 'gpg'
  throw new SettingsError(
    `no signing key configured in ${settingsSource(runtime.settings)}: set general.signing_key_file (an ` +
      `armoured OpenPGP key) or general.gpg_signing_key (a key id in your GnuPG keyring), or gpg_disable: true to publish unsigned`,
    {hint: 'run `pupistry keys generate` to make a key'},
  )
}

/** Verification uses the configured signer's verifier when it has one, else OpenPGP's (which also checks gpg's signatures). */
export async function createVerifier(runtime: Runtime): Promise<{name: string; verifier: Verifier}> {
  for (const name of [runtime.settings.general.signer, 'openpgp']) {
    if (!name) continue
    const {descriptor} = await runtime.registry.get('signers', name)
    let verifier: Verifier | undefined
    try {
      verifier = await descriptor.createVerifier?.(providerContext(runtime, 'agent', descriptor.name))
    } catch (error) {
      throw fromProviderError(error, `signer ${name}`, SigningError)
    }

    if (verifier) return {name, verifier}
  }

  throw new SettingsError('the openpgp signer cannot verify signatures', {
    hint: 'install a version of @pupistry/openpgp made for this pupistry',
  })
}

async function verifier(runtime: Runtime): Promise<Verifier> {
  return (await createVerifier(runtime)).verifier
}

/** The signing side of a signer. */
export async function createSigner(runtime: Runtime, name: string, side: 'build' | 'agent'): Promise<Signer> {
  const {descriptor} = await runtime.registry.get('signers', name)
  if (!descriptor.createSigner) throw new SettingsError(`signer ${name} only verifies; it cannot sign`)
  try {
    return await descriptor.createSigner(providerContext(runtime, side, descriptor.name))
  } catch (error) {
    throw fromProviderError(error, `signer ${name}`, SigningError)
  }
}

/**
 * The trusted keys of this node: `general.trusted_keys`, files or
 * directories of armoured public keys. Trust is configured here, never
 * fetched from the store; as root, files others can write are refused.
 */
export function loadTrustedKeys(runtime: Runtime): TrustedKeyFile[] {
  return loadKeyFiles(runtime.settings.general.trusted_keys, 'general.trusted_keys', runtime)
}

/** Armoured public keys from files or directories of them (a setting's value), checked as trusted keys are. */
export function loadKeyFiles(
  configured: string | string[] | null | undefined,
  setting: string,
  runtime: Runtime,
): TrustedKeyFile[] {
  const entries =
    configured === undefined || configured === null ? [] : Array.isArray(configured) ? configured : [configured]
  const files: string[] = []
  for (const entry of entries) {
    const resolved = path.resolve(expandHome(entry))
    let info
    try {
      info = statSync(resolved)
    } catch {
      throw new SettingsError(`${setting} in ${settingsSource(runtime.settings)}: ${resolved} does not exist`)
    }

    if (info.isDirectory()) {
      assertNotWritableByOthers(resolved, 'trusted keys directory')
      for (const name of readdirSync(resolved).sort()) {
        const file = path.join(resolved, name)
        if (!name.startsWith('.') && statSync(file).isFile()) files.push(file)
      }
    } else {
      files.push(resolved)
    }
  }

  return files.map((file) => {
    assertNotWritableByOthers(file, 'trusted key file')
    return {file, text: readFileSync(file, 'utf8')}
  })
}

function fail(error: unknown, what: string): never {
  throw fromProviderError(error, what, SigningError)
}

/**
 * Signs a payload into a DSSE envelope and checks the signature against the
 * signing key's own public key before anything is published.
 */
export async function signPayload(
  runtime: Runtime,
  payloadType: string,
  payload: Uint8Array,
): Promise<{envelope: Envelope; signedBy: VerifiedSignature}> {
  const {signature, signedBy} = await signDetached(runtime, preAuthEncoding(payloadType, payload))
  return {envelope: makeEnvelope(payloadType, payload, [signature]), signedBy}
}

/**
 * A detached binary signature over `data` by the configured signing key,
 * checked against that key's own public key before it is used, along with
 * the public key (armoured) it verifies with.
 */
export async function signDetached(
  runtime: Runtime,
  data: Uint8Array,
): Promise<{signature: Signature; signedBy: VerifiedSignature; publicKey: string}> {
  const name = signingProviderName(runtime)
  const signer = await createSigner(runtime, name, 'build')
  if (!signer.sign || !signer.publicKey) throw new SettingsError(`signer ${name} cannot sign`)
  const signature = await signer.sign(data).catch((error) => fail(error, `signer ${name}`))
  const publicKey = await signer.publicKey().catch((error) => fail(error, `signer ${name}`))
  const check = await verifier(runtime)
  const signedBy = await check
    .verify(data, signature, [{file: `public key of the ${name} signing key`, text: publicKey}])
    .catch((error) => fail(error, 'verifying the new signature'))
  if (!signedBy)
    throw new SigningError(
      `the signature made by signer ${name} does not verify with its own public key; nothing was published`,
    )
  return {publicKey, signature, signedBy}
}

/**
 * The distinct keys among `trusted` that made a valid signature of the
 * envelope (build side: `pupistry sign` counts who signed a prepared manifest).
 */
export async function trustedSigners(
  runtime: Runtime,
  envelope: Envelope,
  trusted: TrustedKeyFile[],
): Promise<VerifiedSignature[]> {
  if (trusted.length === 0) return []
  const check = await verifier(runtime)
  const data = preAuthEncoding(envelope.payloadType, envelopePayload(envelope))
  const signers = new Map<string, VerifiedSignature>()
  for (const signature of envelopeSignatures(envelope)) {
    const by = await check.verify(data, signature, trusted).catch((error) => {
      throw fromProviderError(error, 'checking a signature', VerificationError)
    })
    if (by) signers.set(by.keyid, by)
  }

  return [...signers.values()]
}

/** The result of checking an envelope on a node. */
export type EnvelopeTrust = {signed: true; by: VerifiedSignature} | {signed: false}

export type VerifyFunction = (
  data: Uint8Array,
  signature: Signature,
  trusted: TrustedKeyFile[],
) => Promise<VerifiedSignature | undefined>

/** How a node checks signatures. Trust is configured on the node, never fetched from the store. */
export interface NodeKeys {
  /** general.gpg_disable: true: this node itself said not to check signatures. */
  disabled: boolean
  trusted: TrustedKeyFile[]
  verify: VerifyFunction
  /** Where the trusted keys are configured, for messages. */
  setting: string
  /** general.signature_threshold: how many distinct trusted keys must sign (1 when unset). */
  threshold?: number
  /** general.channel_keys: for a channel listed, only its keys are trusted (instead of `trusted`). */
  channelKeys?: Record<string, TrustedKeyFile[]>
}

/**
 * This node's trusted keys, read once, and its verifier, created on first
 * use (loading a signer costs start-up time a no-change check need not pay).
 */
export function nodeKeys(runtime: Runtime): NodeKeys {
  const setting = `general.trusted_keys in ${settingsSource(runtime.settings)}`
  let check: Promise<Verifier> | undefined
  const verify: VerifyFunction = async (data, signature, trusted) => {
    check ??= verifier(runtime)
    return (await check).verify(data, signature, trusted)
  }

  const {general} = runtime.settings
  if (general.gpg_disable) return {disabled: true, setting, trusted: [], verify}
  const channelKeys = Object.fromEntries(
    Object.entries(general.channel_keys ?? {}).map(([channel, files]) => {
      if (!CHANNEL_PATTERN.test(channel))
        throw new SettingsError(
          `general.channel_keys in ${settingsSource(runtime.settings)}: not a channel name: ${channel}`,
        )
      return [channel, loadKeyFiles(files, `general.channel_keys.${channel}`, runtime)]
    }),
  )
  return {
    channelKeys,
    disabled: false,
    setting,
    threshold: general.signature_threshold ?? 1,
    trusted: loadTrustedKeys(runtime),
    verify,
  }
}

/**
 * Checks an envelope against a node's trusted keys. Never fails open:
 * with no trusted keys, or an unsigned envelope, it refuses, unless the node
 * itself set gpg_disable: true. For a channel listed in channel_keys only
 * that channel's keys count, and at least `threshold` distinct keys must
 * have signed (so one stolen key is not enough).
 */
export async function checkEnvelope(
  envelope: Envelope,
  where: string,
  keys: NodeKeys,
  channel?: string,
): Promise<EnvelopeTrust> {
  if (keys.disabled) return {signed: false}
  const channelKeys = channel === undefined ? undefined : keys.channelKeys?.[channel]
  const trusted = channelKeys ?? keys.trusted
  const setting = channelKeys ? `general.channel_keys.${channel}` : keys.setting
  if (trusted.length === 0) {
    throw new VerificationError(`no trusted keys configured (${setting}): refusing ${where}`, {
      hint: 'copy the output of `pupistry keys export` to the node and list it in general.trusted_keys',
    })
  }

  const signatures = envelopeSignatures(envelope)
  if (signatures.length === 0)
    throw new VerificationError(`${where} is not signed, and this node only accepts signed manifests`)
  const data = preAuthEncoding(envelope.payloadType, envelopePayload(envelope))
  const threshold = keys.threshold ?? 1
  const signers = new Map<string, VerifiedSignature>()
  for (const signature of signatures) {
    const by = await keys.verify(data, signature, trusted).catch((error) => {
      throw fromProviderError(error, 'verifying signature', VerificationError)
    })
    if (by && !signers.has(by.keyid)) signers.set(by.keyid, by)
    if (signers.size >= threshold) return {by: [...signers.values()][0], signed: true}
  }

  const only = channelKeys ? ` of channel ${channel} (${setting})` : ''
  if (signers.size === 0)
    throw new VerificationError(`${where}: no valid signature by a trusted key${only} (${describeKeyids(signatures)})`)
  throw new VerificationError(
    `${where}: signed by ${signers.size} trusted key(s)${only}, but general.signature_threshold requires ` +
      `${threshold} distinct keys; refused`,
    {hint: 'have more key holders sign the prepared manifest with `pupistry sign` before it is published'},
  )
}

/** Checks an envelope against this node's trusted keys, as configured in its settings. */
export async function verifyEnvelope(
  runtime: Runtime,
  envelope: Envelope,
  where: string,
  channel?: string,
): Promise<EnvelopeTrust> {
  return checkEnvelope(envelope, where, nodeKeys(runtime), channel)
}

function describeKeyids(signatures: Signature[]): string {
  return `signed by ${signatures.map((signature) => signature.keyid || 'an unnamed key').join(', ')}`
}

/**
 * Build side: is what the store says is live signed by our signing key or a
 * key we trust? Push and diff rely on the live manifest only when it is, so
 * a writer to the store cannot make push skip a release or diff parse a
 * planted archive. `unknown` when no key is configured to check with.
 */
export async function publishedTrust(
  runtime: Runtime,
  envelope: Envelope,
): Promise<'trusted' | 'untrusted' | 'unknown'> {
  const keys = runtime.settings.general.trusted_keys ? loadTrustedKeys(runtime) : []
  let signingConfigured = true
  try {
    const name = signingProviderName(runtime)
    const signer = await createSigner(runtime, name, 'build')
    if (signer.publicKey)
      keys.push({
        file: 'the signing key',
        text: await signer.publicKey().catch((error) => fail(error, `signer ${name}`)),
      })
  } catch (error) {
    if (
      !(error instanceof SettingsError) ||
      runtime.settings.general.signing_key_file ||
      runtime.settings.general.gpg_signing_key
    )
      throw error
    signingConfigured = false
  }

  if (keys.length === 0) return signingConfigured ? 'untrusted' : 'unknown'
  const check = await verifier(runtime)
  const data = preAuthEncoding(envelope.payloadType, envelopePayload(envelope))
  for (const signature of envelopeSignatures(envelope)) {
    const by = await check.verify(data, signature, keys).catch((error) => {
      throw fromProviderError(error, 'checking the live manifest', VerificationError)
    })
    if (by) return 'trusted'
  }

  return 'untrusted'
}
