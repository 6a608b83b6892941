import * as v from 'valibot'

import {ENVIRONMENT_PATTERN} from './layout.js'

export const MANIFEST_FORMAT = 1
export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.pupistry.manifest+json; version=1'

const sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'expected a lower-case hex SHA-256'))
const size = v.pipe(v.number(), v.safeInteger(), v.minValue(0))
const isoTime = v.pipe(v.string(), v.isoTimestamp('expected an ISO 8601 time'))
const text = v.pipe(v.string(), v.maxLength(1000))

/**
 * The signed manifest. Every field read from a store goes through this
 * schema before use: nothing else of a manifest is trusted or interpreted.
 */
export const manifestSchema = v.pipe(
  v.strictObject({
    artifact: v.strictObject({
      files: size,
      key: v.pipe(v.string(), v.regex(/^pupistry\/[A-Za-z0-9_]+\/artifacts\/[0-9a-f]{64}\.tar\.gz$/)),
      sha256,
      size,
      unpacked_size: size,
    }),
    build: v.strictObject({
      assembler: text,
      commit: v.nullable(text),
      host: text,
      modules: v.record(text, text),
      tools: v.record(text, text),
      user: text,
    }),
    created: isoTime,
    environment: v.pipe(v.string(), v.regex(ENVIRONMENT_PATTERN)),
    expires: v.nullable(isoTime),
    format: v.literal(MANIFEST_FORMAT),
    prefix: v.pipe(v.string(), v.maxLength(1024)),
    serial: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
    version: sha256,
  }),
  v.check((manifest) => manifest.version === manifest.artifact.sha256, 'version must equal artifact.sha256'),
  v.check(
    (manifest) => manifest.artifact.key === `pupistry/${manifest.environment}/artifacts/${manifest.artifact.sha256}.tar.gz`,
    "artifact key must be the environment's artifact of that SHA-256",
  ),
)

export type Manifest = v.InferOutput<typeof manifestSchema>

/** What a build records locally: the manifest less what push decides. */
export type BuildRecord = Omit<Manifest, 'serial' | 'prefix' | 'created' | 'expires'> & {built: string}

export function describeSchemaIssue(issue: v.BaseIssue<unknown>): string {
  return `${(issue.path ?? []).map((item) => String(item.key)).join('.') || 'manifest'}: ${issue.message}`
}
