import type {Store} from '../contracts.js'
import {VerificationError} from '../errors.js'
import {makeEnvelope, MAX_ENVELOPE_BYTES, parseEnvelope, serializeEnvelope} from '../format/envelope.js'
import {provenanceKey} from '../format/layout.js'
import type {PublishedManifest} from '../format/pointer.js'
import {readLimited} from '../format/pointer.js'
import {
  PROVENANCE_PAYLOAD_TYPE,
  type Provenance,
  type ProvenanceRecord,
  payloadDigest,
  provenanceFor,
} from '../format/provenance.js'
import type {Runtime} from '../runtime.js'
import {publishedTrust, signPayload} from '../signing/signing.js'

/**
 * Signs and writes, create-only, the provenance record of the manifest
 * about to be published as `serial`: before the manifest, so no reader
 * sees a promoted manifest whose record is still to come.
 */
export async function writeProvenance(
  runtime: Runtime,
  store: Store,
  manifest: {environment: string; serial: number; payload: Uint8Array},
  from: Provenance,
): Promise<void> {
  const {environment, serial} = manifest
  const record: ProvenanceRecord = {environment, format: 1, from, manifest: payloadDigest(manifest.payload), serial}
  const payload = Buffer.from(JSON.stringify(record), 'utf8')
  const envelope = runtime.settings.general.gpg_disable
    ? makeEnvelope(PROVENANCE_PAYLOAD_TYPE, payload, [])
    : (await signPayload(runtime, PROVENANCE_PAYLOAD_TYPE, payload)).envelope
  await store.put(provenanceKey(environment, serial), serializeEnvelope(envelope), {
    contentType: 'application/json',
    createOnly: true,
  })
}

/**
 * Where a published manifest's release was promoted from: its own
 * `provenance` member (format 2), else its provenance record, believed only
 * when signed by the build side's key or a key it trusts and naming exactly
 * this manifest. Undefined when it was not promoted (or the record is not
 * believed, with a warning).
 */
export async function provenanceOf(
  runtime: Runtime,
  store: Store,
  published: Pick<PublishedManifest, 'envelope' | 'manifest'>,
): Promise<Provenance | undefined> {
  const {manifest} = published
  if (manifest.provenance) return manifest.provenance
  const key = provenanceKey(manifest.environment, manifest.serial)
  const object = await store.get(key)
  if (!object || 'notModified' in object) return undefined
  const where = `${store.location} ${key}`
  try {
    const record = parseEnvelope(await readLimited(object.body, MAX_ENVELOPE_BYTES, where), where)
    if (!runtime.settings.general.gpg_disable && (await publishedTrust(runtime, record)) !== 'trusted')
      throw new VerificationError(`${where} is not signed by your key or a trusted key`)
    return provenanceFor(record, published.envelope, manifest, where)
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error
    runtime.log.warn(`${manifest.environment}: provenance of serial ${manifest.serial} not believed: ${error.message}`)
    return undefined
  }
}
