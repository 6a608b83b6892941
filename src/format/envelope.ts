import * as v from 'valibot'

import type {Signature} from '../contracts.js'
import {VerificationError} from '../errors.js'

/**
 * DSSE (Dead Simple Signing Envelope), as in-toto and Sigstore use it: the
 * signature covers PAE(payloadType, payload), so any signer plugin signs the
 * same bytes and a payload cannot be reinterpreted as another type.
 */
const base64 = v.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64')

export const envelopeSchema = v.strictObject({
  payload: v.pipe(v.string(), v.maxLength(1_000_000), base64),
  payloadType: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  signatures: v.pipe(
    v.array(
      v.strictObject({
        keyid: v.optional(v.pipe(v.string(), v.maxLength(200)), ''),
        sig: v.pipe(v.string(), v.maxLength(100_000), base64),
      }),
    ),
    v.maxLength(16),
  ),
})

export type Envelope = v.InferOutput<typeof envelopeSchema>

/** Largest pointer or manifest a node will read. */
export const MAX_ENVELOPE_BYTES = 1 << 20

export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = Buffer.from(payloadType, 'utf8')
  const header = Buffer.from(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `, 'utf8')
  return Buffer.concat([header, payload])
}

export function makeEnvelope(payloadType: string, payload: Uint8Array, signatures: Signature[]): Envelope {
  return {
    payload: Buffer.from(payload).toString('base64'),
    payloadType,
    signatures: signatures.map((signature) => ({
      keyid: signature.keyid,
      sig: Buffer.from(signature.sig).toString('base64'),
    })),
  }
}

export function serializeEnvelope(envelope: Envelope): Buffer {
  return Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`, 'utf8')
}

export function parseEnvelope(bytes: Uint8Array, where: string): Envelope {
  if (bytes.length > MAX_ENVELOPE_BYTES)
    throw new VerificationError(`${where}: larger than ${MAX_ENVELOPE_BYTES} bytes`)
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new VerificationError(`${where}: not a JSON signing envelope`)
  }

  const result = v.safeParse(envelopeSchema, json)
  if (!result.success) {
    const issue = result.issues[0]
    throw new VerificationError(
      `${where}: not a valid signing envelope (${(issue.path ?? []).map((item) => String(item.key)).join('.')}: ${issue.message})`,
    )
  }

  return result.output
}

export function envelopePayload(envelope: Envelope): Buffer {
  return Buffer.from(envelope.payload, 'base64')
}

/** The payload parsed as JSON (nothing else checked yet); a verification error naming `what` when it is not JSON. */
export function payloadJson(envelope: Envelope, where: string, what: string): unknown {
  try {
    return JSON.parse(envelopePayload(envelope).toString('utf8'))
  } catch {
    throw new VerificationError(`${where}: ${what} payload is not JSON`)
  }
}

export function envelopeSignatures(envelope: Envelope): Signature[] {
  return envelope.signatures.map((signature) => ({keyid: signature.keyid, sig: Buffer.from(signature.sig, 'base64')}))
}
