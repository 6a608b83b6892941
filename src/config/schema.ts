import {z} from 'zod'

/**
 * settings.yaml: every key of the Ruby tool's settings.example.yaml keeps its
 * meaning, plus the keys pupistry 3 adds. Blank values (`key:` with nothing
 * after it, as the Ruby example has) mean "not set".
 */
const optionalString = z.string().min(1).nullish()
const optionalBool = z.boolean().nullish()
const optionalPositiveInt = z.number().int().positive().nullish()
/** Seconds as a number, or a duration such as `90s`, `30m`, `12h`, `7d`. */
const duration = z.union([z.number().int().positive(), z.string().regex(/^[1-9]\d*\s*[smhdw]?$/)], {error: 'expected a positive duration such as 3600, 30m, 12h or 7d'}).nullish()

const credentials = {
  access_key_id: optionalString,
  secret_access_key: optionalString,
  region: optionalString,
  proxy_uri: optionalString,
}

export const generalSchema = z.object({
  app_cache: optionalString,
  storage: optionalString,
  s3_bucket: optionalString,
  s3_prefix: z.string().nullish(),
  s3_endpoint: optionalString,
  gpg_disable: optionalBool,
  gpg_signing_key: z.union([z.string().min(1), z.number()], {error: 'expected a key id, fingerprint or email address'}).nullish(),
  signing_key_file: optionalString,
  trusted_keys: z.union([z.string().min(1), z.array(z.string().min(1))], {error: 'expected a file or directory, or a list of them'}).nullish(),
  signer: optionalString,
  manifest_ttl: duration,
})

export const agentSchema = z.object({
  puppetcode: optionalString,
  environment: optionalString,
  daemon_frequency: optionalPositiveInt,
  daemon_minimal: optionalBool,
  releases: optionalString,
  keep_releases: optionalPositiveInt,
  puppet: optionalString,
  ...credentials,
})

export const buildSchema = z.object({
  puppetcode: optionalString,
  hieracrypt: optionalBool,
  assembler: optionalString,
  ...credentials,
})

export const settingsSchema = z.object({
  general: generalSchema.nullish(),
  agent: agentSchema.nullish(),
  build: buildSchema.nullish(),
})

export type RawSettings = z.infer<typeof settingsSchema>

/** Keys each section knows, for "unknown key" warnings. */
export const knownKeys: Record<string, string[]> = {
  general: Object.keys(generalSchema.shape),
  agent: Object.keys(agentSchema.shape),
  build: Object.keys(buildSchema.shape),
}
