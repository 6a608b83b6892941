import * as v from 'valibot'

import {VerificationError} from '../errors.js'
import {type Envelope, payloadJson} from './envelope.js'
import {CHANNEL_PATTERN} from './channel.js'
import {ENVIRONMENT_PATTERN} from './environment.js'
import {ARTIFACT_KEY_PATTERN, artifactKey} from './layout.js'
import {provenanceSchema} from './provenance.js'
import {SEALED_MEMBER} from './sealed-member.js'

export type {SealedIndexRef} from './sealed-member.js'

/**
 * The formats nodes read. Format 2 is format 1 plus optional members for
 * features older nodes do not know (FORMAT2_MEMBERS); push writes format 1
 * unless one of them is used, so a store that uses none stays readable by
 * every node ever released.
 */
export type ManifestFormat = 1 | 2

/** The DSSE payload type of a manifest format: the signature covers it, so a format cannot pass for another. */
export function manifestPayloadType(format: ManifestFormat): string {
  return `application/vnd.pupistry.manifest+json; version=${format}`
}

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

/** The members every format has. */
const COMMON_MEMBERS = {
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
  prefix: v.pipe(v.string(), v.maxLength(1024)),
  serial: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
  version: sha256,
}

/**
 * The members only format 2 has, each optional and each a feature: a
 * manifest carries one when push used the feature. Adding a feature is one
 * more entry here, its rule in the node's trust step (agent/trust.ts) and its
 * row in docs/FORMAT.md.
 */
const FORMAT2_MEMBERS = {
  ...SEALED_MEMBER,
  /** The channel the manifest is for; absent means stable (issue 15). */
  channel: v.optional(v.pipe(v.string(), v.regex(CHANNEL_PATTERN))),
  /** Where a promoted manifest's artifact and build record came from (issue 15). */
  provenance: v.optional(provenanceSchema),
  /** A phased rollout: the share of nodes that install it, and the release the others keep (issue 15). */
  rollout: v.optional(
    v.strictObject({
      percent: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(99)),
      previous: v.nullable(
        v.strictObject({serial: v.pipe(v.number(), v.safeInteger(), v.minValue(1)), version: sha256}),
      ),
    }),
  ),
}

const FORMAT2_MEMBER_NAMES = Object.keys(FORMAT2_MEMBERS)

/** Rules between members that hold in every format. */
type Consistent = {version: string; environment: string; artifact: {key: string; sha256: string}}
function consistent<T extends v.GenericSchema<unknown, Consistent>>(schema: T) {
  return v.pipe(
    schema,
    v.check<v.InferOutput<T>, string>(
      (manifest) => manifest.version === manifest.artifact.sha256,
      'version must equal artifact.sha256',
    ),
    v.check<v.InferOutput<T>, string>(
      (manifest) => manifest.artifact.key === artifactKey(manifest.environment, manifest.artifact.sha256),
      "artifact key must be the environment's artifact of that SHA-256",
    ),
  )
}

/**
 * The signed manifest. Every field read from a store goes through one of
 * these schemas before use: nothing else of a manifest is trusted or
 * interpreted. Both are strict, so a format-1 manifest cannot carry a
 * format-2 member that an older node would ignore.
 */
const manifestFormat1 = consistent(v.strictObject({...COMMON_MEMBERS, format: v.literal(1)}))
const manifestFormat2 = consistent(v.strictObject({...COMMON_MEMBERS, ...FORMAT2_MEMBERS, format: v.literal(2)}))

/** A manifest as the node and push use it: the format-2 shape, whatever format it was read from. */
export type Manifest = Omit<v.InferOutput<typeof manifestFormat2>, 'format'> & {format: ManifestFormat}

/** A manifest's body before push decides its format. */
export type ManifestBody = Omit<Manifest, 'format'>

/** The formats a node reads, by payload type: the payload type is signed, so it decides the schema. */
const READABLE_FORMATS = new Map<string, v.GenericSchema<unknown, Manifest>>([
  [manifestPayloadType(1), manifestFormat1],
  [manifestPayloadType(2), manifestFormat2],
])

/** The lowest format that can carry the body: 2 when it uses a format-2 feature, else 1. */
export function formatFor(body: ManifestBody): ManifestFormat {
  return FORMAT2_MEMBER_NAMES.some((name) => (body as Record<string, unknown>)[name] !== undefined) ? 2 : 1
}

/** The body with its format: what push signs. */
export function withFormat(body: ManifestBody): Manifest {
  return {...body, format: formatFor(body)}
}

/**
 * The manifest inside an envelope, checked against the schema of its
 * payload type. This does not check signatures: a node verifies the envelope
 * first (agent/trust.ts), then calls this.
 */
export function manifestOf(envelope: Envelope, where: string): Manifest {
  const schema = READABLE_FORMATS.get(envelope.payloadType)
  if (!schema) throw new VerificationError(`${where}: not a pupistry manifest (payload type ${envelope.payloadType})`)
  const result = v.safeParse(schema, payloadJson(envelope, where, 'manifest'))
  if (!result.success)
    throw new VerificationError(`${where}: invalid manifest (${describeSchemaIssue(result.issues[0])})`)
  return result.output
}

/** What a build records locally: the artifact and build data of a manifest, which push completes. */
export type BuildRecord = Pick<Manifest, 'artifact' | 'build' | 'environment' | 'version'> & {
  built: string
} & BuiltSealed

/** Sealed hiera of a build (build.hieracrypt): the index push publishes and the manifest names. */
type BuiltSealed = Pick<Manifest, 'sealed'>

function describeSchemaIssue(issue: v.BaseIssue<unknown>): string {
  return `${(issue.path ?? []).map((item) => String(item.key)).join('.') || 'manifest'}: ${issue.message}`
}
