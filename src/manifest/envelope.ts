import {z} from 'zod'

import type {Signature} from '../contracts.js'
import {VerificationError} from '../errors.js'

/**
 * DSSE (Dead Simple Signing Envelope), as in-toto and Sigstore use it: the
 * signature covers PAE(payloadType, payload), so any signer plugin signs the
 * same bytes and a payload cannot be reinterpreted as another type.
 */
export const envelopeSchema = z
  .object({
    payloadType: z.string().min(1).max(200),
    payload: z.string().max(1_000_000).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
    signatures: z
      .array(z.object({keyid: z.string().max(200).default(''), sig: z.string().max(100_000).regex(/^[A-Za-z0-9+/]*={0,2}$/)}).strict())
      .max(16),
  })
  .strict()

export type Envelope = z.infer<typeof envelopeSchema>

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
    signatures: signatures.map((signature) => ({keyid: signature.keyid, sig: Buffer.from(signature.sig).toString('base64')})),
  }
}

export function serializeEnvelope(envelope: Envelope): Buffer {
  return Buffer.from(`${JSON.stringify(envelope, null, 2)}\n`, 'utf8')
}

export function parseEnvelope(bytes: Uint8Array, where: string): Envelope {
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new VerificationError(`${where}: larger than ${MAX_ENVELOPE_BYTES} bytes`)
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new VerificationError(`${where}: not a JSON signing envelope`)
  }

  const result = envelopeSchema.safeParse(json)
  if (!result.success) throw new VerificationError(`${where}: not a valid signing envelope (${result.error.issues[0].path.join('.')}: ${result.error.issues[0].message})`)
  return result.data
}

export function envelopePayload(envelope: Envelope): Buffer {
  return Buffer.from(envelope.payload, 'base64')
}

export function envelopeSignatures(envelope: Envelope): Signature[] {
  return envelope.signatures.map((signature) => ({keyid: signature.keyid, sig: Buffer.from(signature.sig, 'base64')}))
}
