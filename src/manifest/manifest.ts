import {z} from 'zod'

import {ENVIRONMENT_PATTERN} from './layout.js'

export const MANIFEST_FORMAT = 1
export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.pupistry.manifest+json; version=1'

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256')
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const isoTime = z.string().datetime({offset: true})
const text = z.string().max(1000)

/**
 * The signed manifest. Every field read from a store goes through this
 * schema before use: nothing else of a manifest is trusted or interpreted.
 */
export const manifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    environment: z.string().regex(ENVIRONMENT_PATTERN),
    prefix: z.string().max(1024),
    serial: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    version: sha256,
    artifact: z
      .object({
        key: z.string().regex(/^pupistry\/[A-Za-z0-9_]+\/artifacts\/[0-9a-f]{64}\.tar\.gz$/),
        sha256,
        size,
        unpacked_size: size,
        files: size,
      })
      .strict(),
    created: isoTime,
    expires: isoTime.nullable(),
    build: z
      .object({
        user: text,
        host: text,
        assembler: text,
        commit: text.nullable(),
        modules: z.record(text, text),
        tools: z.record(text, text),
      })
      .strict(),
  })
  .strict()
  .refine((manifest) => manifest.version === manifest.artifact.sha256, {message: 'version must equal artifact.sha256'})
  .refine((manifest) => manifest.artifact.key === `pupistry/${manifest.environment}/artifacts/${manifest.artifact.sha256}.tar.gz`, {
    message: 'artifact key must be the environment\'s artifact of that SHA-256',
  })

export type Manifest = z.infer<typeof manifestSchema>

/** What a build records locally: the manifest less what push decides. */
export type BuildRecord = Omit<Manifest, 'serial' | 'prefix' | 'created' | 'expires'> & {built: string}

export function describeSchemaError(error: z.ZodError): string {
  const issue = error.issues[0]
  return `${issue.path.join('.') || 'manifest'}: ${issue.message}`
}
