import * as v from 'valibot'

import {VerificationError} from '../errors.js'
import {type Envelope, envelopePayload} from './envelope.js'
import {ENVIRONMENT_PATTERN} from './environment.js'
import {ARTIFACT_KEY_PATTERN, artifactKey} from './layout.js'

/** The format push writes. */
export const MANIFEST_FORMAT = 1

/** The DSSE payload type of a manifest format: the signature covers it, so a format cannot pass for another. */
export function manifestPayloadType(format: number): string {
  return `application/vnd.pupistry.manifest+json; version=${format}`
}

export const MANIFEST_PAYLOAD_TYPE = manifestPayloadType(MANIFEST_FORMAT)

const sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'expected a lower-case hex SHA-256'))
const size = v.pipe(v.number(), v.safeInteger(), v.minValue(0))
const isoTime = v.pipe(v.string(), v.isoTimestamp('expected an ISO 8601 time'))
const text = v.pipe(v.string(), v.maxLength(1000))

/**
 * valibot's record takes any object, arrays included, and skips the keys
 * below without checking their values; FORMAT.md says a JSON object of
 * bounded strings, so the shape is checked before the entries.
 */
const SKIPPED_KEYS = ['__proto__', 'prototype', 'constructor']
const isPlainObject = (input: unknown): boolean =>
  typeof input === 'object' &&
  input !== null &&
  Object.getPrototypeOf(input) === Object.prototype &&
  !SKIPPED_KEYS.some((key) => Object.hasOwn(input, key))
const stringMap = v.pipe(
  v.custom<Record<string, string>>(isPlainObject, 'expected an object of strings'),
  v.record(text, text),
)

/**
 * The signed manifest. Every field read from a store goes through this
 * schema before use: nothing else of a manifest is trusted or interpreted.
 */
const manifestFormat1 = v.pipe(
  v.strictObject({
    artifact: v.strictObject({
      files: size,
      key: v.pipe(v.string(), v.regex(ARTIFACT_KEY_PATTERN)),
      sha256,
      size,
      unpacked_size: size,
    }),
    build: v.strictObject({
      assembler: text,
      commit: v.nullable(text),
      host: text,
      modules: stringMap,
      tools: stringMap,
      user: text,
    }),
    created: isoTime,
    environment: v.pipe(v.string(), v.regex(ENVIRONMENT_PATTERN)),
    expires: v.nullable(isoTime),
    format: v.literal(1),
    prefix: v.pipe(v.string(), v.maxLength(1024)),
    serial: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
    version: sha256,
  }),
  v.check((manifest) => manifest.version === manifest.artifact.sha256, 'version must equal artifact.sha256'),
  v.check(
    (manifest) => manifest.artifact.key === artifactKey(manifest.environment, manifest.artifact.sha256),
    "artifact key must be the environment's artifact of that SHA-256",
  ),
)

export type Manifest = v.InferOutput<typeof manifestFormat1>

/**
 * The formats a node reads, by payload type. A later format is one more
 * entry (its schema, converted to what the node uses), while push writes
 * MANIFEST_FORMAT.
 */
const READABLE_FORMATS = new Map<string, v.GenericSchema<unknown, Manifest>>([
  [manifestPayloadType(1), manifestFormat1],
])

/**
 * The manifest inside an envelope, checked against the schema of its
 * payload type. This does not check signatures: a node verifies the envelope
 * first (agent/trust.ts), then calls this.
 */
export function manifestOf(envelope: Envelope, where: string): Manifest {
  const schema = READABLE_FORMATS.get(envelope.payloadType)
  if (!schema) throw new VerificationError(`${where}: not a pupistry manifest (payload type ${envelope.payloadType})`)
  let json: unknown
  try {
    json = JSON.parse(envelopePayload(envelope).toString('utf8'))
  } catch {
    throw new VerificationError(`${where}: manifest payload is not JSON`)
  }

  const result = v.safeParse(schema, json)
  if (!result.success)
    throw new VerificationError(`${where}: invalid manifest (${describeSchemaIssue(result.issues[0])})`)
  return result.output
}

/** What a build records locally: the manifest less what push decides. */
export type BuildRecord = Omit<Manifest, 'serial' | 'prefix' | 'created' | 'expires'> & {built: string}

function describeSchemaIssue(issue: v.BaseIssue<unknown>): string {
  return `${(issue.path ?? []).map((item) => String(item.key)).join('.') || 'manifest'}: ${issue.message}`
}
