import {createHash} from 'node:crypto'

import * as v from 'valibot'

import {VerificationError} from '../errors.js'
import {CHANNEL_PATTERN} from './channel.js'
import {type Envelope, envelopePayload, payloadJson} from './envelope.js'
import {ENVIRONMENT_PATTERN} from './environment.js'

/**
 * A promoted manifest's provenance, kept outside the manifest: a format-1
 * manifest (what format-1 nodes read on latest.json) has no member for it.
 * The record names the manifest by the SHA-256 of its payload, so it can
 * vouch for no other manifest, and is signed like the manifest.
 */
export const PROVENANCE_PAYLOAD_TYPE = 'application/vnd.pupistry.provenance+json; version=1'

const sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))
const serial = v.pipe(v.number(), v.safeInteger(), v.minValue(1))
const environment = v.pipe(v.string(), v.regex(ENVIRONMENT_PATTERN))

/** Where a promoted release came from: the same shape as the format-2 manifest member `provenance`. */
export const provenanceSchema = v.strictObject({
  channel: v.pipe(v.string(), v.regex(CHANNEL_PATTERN)),
  environment,
  serial,
})

export type Provenance = v.InferOutput<typeof provenanceSchema>

const recordSchema = v.strictObject({
  environment,
  format: v.literal(1),
  from: provenanceSchema,
  manifest: sha256,
  serial,
})

export type ProvenanceRecord = v.InferOutput<typeof recordSchema>

/** The SHA-256 of a manifest envelope's payload: what a provenance record names. */
export function payloadDigest(payload: Uint8Array): string {
  return createHash('sha256').update(payload).digest('hex')
}

/**
 * The provenance a record gives the manifest in `manifestEnvelope`, after
 * its signature was checked by the caller: it must name exactly that
 * manifest (environment, serial and payload digest).
 */
export function provenanceFor(
  record: Envelope,
  manifestEnvelope: Envelope,
  manifest: {environment: string; serial: number},
  where: string,
): Provenance {
  if (record.payloadType !== PROVENANCE_PAYLOAD_TYPE)
    throw new VerificationError(`${where}: not a provenance record (payload type ${record.payloadType})`)
  const result = v.safeParse(recordSchema, payloadJson(record, where, 'provenance'))
  if (!result.success) throw new VerificationError(`${where}: invalid provenance record (${result.issues[0].message})`)
  const {output} = result
  if (
    output.environment !== manifest.environment ||
    output.serial !== manifest.serial ||
    output.manifest !== payloadDigest(envelopePayload(manifestEnvelope))
  )
    throw new VerificationError(`${where}: the provenance record names another manifest than serial ${manifest.serial}`)
  return output.from
}
