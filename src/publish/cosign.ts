import {NotFoundError, StoreError, UsageError, VerificationError} from '../errors.js'
import {channelOf, STABLE_CHANNEL} from '../format/channel.js'
import type {Store} from '../contracts.js'
import {
  envelopePayload,
  envelopeSignatures,
  MAX_ENVELOPE_BYTES,
  makeEnvelope,
  parseEnvelope,
  preAuthEncoding,
  serializeEnvelope,
} from '../format/envelope.js'
import {manifestKey, preparedKey} from '../format/layout.js'
import {type Manifest, manifestOf} from '../format/manifest.js'
import {readLimited} from '../format/pointer.js'
import type {Runtime} from '../runtime.js'
import {loadTrustedKeys, signDetached, trustedSigners} from '../signing/signing.js'
import {isCreateConflict, openStore} from '../store/open-store.js'
import {publishPointer} from './push.js'

export interface SignResult {
  environment: string
  channel?: string
  serial: number
  version: string
  /** Everyone whose signature counts now: "identity (keyid)". */
  signedBy: string[]
  threshold: number
  status: 'published' | 'prepared'
}

/**
 * Adds this side's signature to the manifest prepared by a push under
 * general.signature_threshold, after checking that the signatures already
 * on it are by keys this side trusts, and publishes it once enough distinct
 * keys have signed: the manifest create-only under its serial, then the pointer.
 */
export async function signPrepared(
  runtime: Runtime,
  options: {environment: string; channel?: string},
): Promise<SignResult> {
  const {environment} = options
  const channel = options.channel ?? STABLE_CHANNEL
  const store = await openStore(runtime, 'build')
  const key = preparedKey(environment, channel)
  const where = `${store.location} ${key}`
  const object = await store.get(key, {mutable: true})
  if (!object || 'notModified' in object)
    throw new NotFoundError(`no prepared manifest at ${where}`, {
      hint: 'a push under general.signature_threshold prepares one',
    })
  const envelope = parseEnvelope(await readLimited(object.body, MAX_ENVELOPE_BYTES, where), where)
  const manifest = manifestOf(envelope, where)
  if (manifest.environment !== environment || channelOf(manifest) !== channel || manifest.prefix !== store.prefix)
    throw new VerificationError(`${where} is a manifest for another environment, channel or store; refused`)

  const before = await trustedSigners(runtime, envelope, loadTrustedKeys(runtime))
  if (before.length === 0)
    throw new VerificationError(`${where} is not signed by any key in general.trusted_keys; not signing it`)
  const own = await signDetached(runtime, preAuthEncoding(envelope.payloadType, envelopePayload(envelope)))
  if (before.some((signer) => signer.keyid === own.signedBy.keyid))
    throw new UsageError(`${where} is already signed by your key (${own.signedBy.keyid})`)
  const payload = envelopePayload(envelope)
  const signed = makeEnvelope(envelope.payloadType, payload, [...envelopeSignatures(envelope), own.signature])
  const signers = [...before, own.signedBy]
  const threshold = runtime.settings.general.signature_threshold ?? 1
  const bytes = serializeEnvelope(signed)
  const result = describe(manifest, signers, threshold)
  if (signers.length < threshold) {
    await store.put(key, bytes, {contentType: 'application/json', mutable: true})
    return {...result, status: 'prepared'}
  }

  await publishSigned(runtime, store, manifest, bytes)
  await store.delete(key)
  return {...result, status: 'published'}
}

async function publishSigned(runtime: Runtime, store: Store, manifest: Manifest, bytes: Buffer): Promise<void> {
  const {environment, serial} = manifest
  try {
    await store.put(manifestKey(environment, serial), bytes, {contentType: 'application/json', createOnly: true})
  } catch (error) {
    if (!isCreateConflict(error)) throw error
    throw new StoreError(`${environment}: serial ${serial} was published by another push meanwhile`, {
      hint: 'push again (it prepares a manifest with the next serial) and have it signed again',
      reason: 'conflict',
    })
  }

  await publishPointer(runtime, store, {channel: channelOf(manifest), environment, serial}, bytes)
}

function describe(
  manifest: Manifest,
  signers: {identity: string; keyid: string}[],
  threshold: number,
): Omit<SignResult, 'status'> {
  return {
    channel: manifest.channel,
    environment: manifest.environment,
    serial: manifest.serial,
    signedBy: signers.map((signer) => `${signer.identity} (${signer.keyid})`),
    threshold,
    version: manifest.version,
  }
}
