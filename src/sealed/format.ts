import {createHash} from 'node:crypto'

import * as v from 'valibot'

import {SealedDataError} from '../errors.js'
import {type Envelope, envelopePayload, envelopeSchema} from '../format/envelope.js'
import {ENVIRONMENT_PATTERN} from '../format/environment.js'
import {SEALED_BUNDLE_KEY_PATTERN} from '../format/layout.js'

/** DSSE payload types: the signature covers them, so an index cannot pass for a bundle or a manifest. */
export const INDEX_PAYLOAD_TYPE = 'application/vnd.pupistry.sealed-index+json; version=1'
export const BUNDLE_PAYLOAD_TYPE = 'application/vnd.pupistry.sealed-bundle+json; version=1'

/** Largest index and decrypted bundle a node reads. */
export const MAX_INDEX_BYTES = 8 << 20
export const MAX_BUNDLE_BYTES = 64 << 20

const sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))
const fingerprint = v.pipe(v.string(), v.regex(/^[0-9A-F]{40}$|^[0-9A-F]{64}$/))
const size = v.pipe(v.number(), v.safeInteger(), v.minValue(0))

/** Where a node finds its bundle: in the index, under its tag. */
export const indexEntrySchema = v.strictObject({
  key: v.pipe(v.string(), v.regex(SEALED_BUNDLE_KEY_PATTERN)),
  sha256,
  size,
})

/**
 * The signed index of one environment's build: opaque tags to bundles. It
 * names no node and no file, so a store reader learns only how many readers
 * and bundles there are.
 */
export const indexSchema = v.strictObject({
  entries: v.record(sha256, indexEntrySchema),
  environment: v.pipe(v.string(), v.regex(ENVIRONMENT_PATTERN)),
  /** The artifact version the bundles were selected for. */
  version: sha256,
})

export type SealedIndex = v.InferOutput<typeof indexSchema>

/**
 * One member's view, inside the encrypted bundle: which key it is and the
 * facts and trusted data (a node's certname) its files were selected with.
 */
const recipientSchema = v.strictObject({
  facts: v.record(v.string(), v.unknown()),
  fingerprint,
  trusted: v.optional(v.record(v.string(), v.unknown())),
})

/** The decrypted bundle: a signed header and the files, bound together in one payload. */
export const bundleSchema = v.strictObject({
  environment: v.pipe(v.string(), v.regex(ENVIRONMENT_PATTERN)),
  files: v.array(v.strictObject({content: v.string(), path: v.pipe(v.string(), v.minLength(1), v.maxLength(4096))})),
  recipients: v.array(recipientSchema),
})

export type SealedBundle = v.InferOutput<typeof bundleSchema>

/**
 * A node's tag in an environment's index: derived from its key's
 * fingerprint and the environment, so the store names no node, and one
 * node's tags in two environments cannot be linked.
 */
export function memberTag(fingerprintHex: string, environment: string): string {
  return createHash('sha256')
    .update(`pupistry sealed tag\0${environment}\0${fingerprintHex.toUpperCase()}`)
    .digest('hex')
}

/** A signed payload of the given type, checked against its schema; the signature was checked before. */
export function payloadOf<T>(envelope: Envelope, type: string, schema: v.GenericSchema<unknown, T>, where: string): T {
  if (envelope.payloadType !== type)
    throw new SealedDataError(`${where}: not a sealed ${type.includes('index') ? 'index' : 'bundle'}`)
  let json: unknown
  try {
    json = JSON.parse(envelopePayload(envelope).toString('utf8'))
  } catch {
    throw new SealedDataError(`${where}: payload is not JSON`)
  }

  const result = v.safeParse(schema, json)
  if (!result.success) {
    const issue = result.issues[0]
    const at = (issue.path ?? []).map((item) => String(item.key)).join('.') || 'payload'
    throw new SealedDataError(`${where}: invalid (${at}: ${issue.message})`)
  }

  return result.output
}

/** Envelopes of sealed data may be larger than a manifest's: the same shape, checked with the size given. */
export function parseSealedEnvelope(bytes: Uint8Array, where: string, maxBytes: number): Envelope {
  if (bytes.length > maxBytes) throw new SealedDataError(`${where}: larger than ${maxBytes} bytes`)
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new SealedDataError(`${where}: not a JSON signing envelope`)
  }

  const shape = v.strictObject({...envelopeSchema.entries, payload: v.string()})
  const result = v.safeParse(shape, json)
  if (!result.success || !/^[A-Za-z0-9+/]*={0,2}$/.test(result.output.payload))
    throw new SealedDataError(`${where}: not a valid signing envelope`)
  return result.output
}
