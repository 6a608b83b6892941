import * as v from 'valibot'

import {parseDuration} from './duration.js'

/**
 * settings.yaml: every key of the Ruby tool's settings.example.yaml keeps its
 * meaning, plus the keys pupistry 3 adds. Blank values (`key:` with nothing
 * after it, as the Ruby example has) mean "not set".
 */
const optionalString = v.nullish(v.pipe(v.string(), v.minLength(1, 'expected a non-empty string')))
const optionalBool = v.nullish(v.boolean())
const optionalPositiveInt = v.nullish(
  v.pipe(v.number(), v.integer('expected a whole number'), v.minValue(1, 'expected a number above 0')),
)
const durationAtLeast = (min: number, message: string) =>
  v.nullish(
    v.pipe(
      v.union([v.number(), v.string()], message),
      // The same parser reads the value later (durationSeconds) and reads duration flags.
      v.check((value) => (parseDuration(value) ?? -1) >= min, message),
    ),
  )
/** Seconds as a number, or a duration such as `90s`, `30m`, `12h`, `7d`. */
const duration = durationAtLeast(1, 'expected a positive duration such as 3600, 30m, 12h or 7d')
/** As duration, but 0 is allowed (no splay, no waiting). */
const durationOrZero = durationAtLeast(0, 'expected a duration such as 0, 30, 90s or 5m')

const credentials = {
  access_key_id: optionalString,
  proxy_uri: optionalString,
  region: optionalString,
  secret_access_key: optionalString,
}

// Sections keep keys they do not know: those are settings of plugins' providers.
export const generalSchema = v.looseObject({
  app_cache: optionalString,
  channel_keys: v.nullish(
    v.record(
      v.string(),
      v.union(
        [v.pipe(v.string(), v.minLength(1)), v.array(v.pipe(v.string(), v.minLength(1)))],
        'expected a file or directory, or a list of them',
      ),
    ),
  ),
  gpg_disable: optionalBool,
  gpg_signing_key: v.nullish(
    v.union([v.pipe(v.string(), v.minLength(1)), v.number()], 'expected a key id, fingerprint or email address'),
  ),
  manifest_ttl: duration,
  report_keys: optionalString,
  s3_bucket: optionalString,
  s3_checksums: v.nullish(v.picklist(['when_required', 'when_supported'], 'expected when_required or when_supported')),
  s3_endpoint: optionalString,
  s3_kms_key_id: optionalString,
  s3_prefix: v.nullish(v.string()),
  s3_sse: v.nullish(v.picklist(['AES256', 'aws:kms'], 'expected AES256 or aws:kms')),
  signature_threshold: optionalPositiveInt,
  signer: optionalString,
  signing_key_file: optionalString,
  storage: optionalString,
  trusted_keys: v.nullish(
    v.union(
      [v.pipe(v.string(), v.minLength(1)), v.array(v.pipe(v.string(), v.minLength(1)))],
      'expected a file or directory, or a list of them',
    ),
  ),
})

export const agentSchema = v.looseObject({
  allow_insecure_http: optionalBool,
  channel: optionalString,
  daemon_frequency: optionalPositiveInt,
  daemon_minimal: optionalBool,
  daemon_splay: durationOrZero,
  environment: optionalString,
  group_keys: v.nullish(
    v.union(
      [v.pipe(v.string(), v.minLength(1)), v.array(v.pipe(v.string(), v.minLength(1)))],
      'expected a secret key file, or a list of them',
    ),
  ),
  hieracrypt_fact_drift: v.nullish(v.picklist(['fail', 'warn'], 'expected fail or warn')),
  keep_releases: optionalPositiveInt,
  legacy_max_size: optionalPositiveInt,
  legacy_store: optionalBool,
  node_key_file: optionalString,
  puppet: optionalString,
  puppetcode: optionalString,
  releases: optionalString,
  report_id: optionalString,
  report_interval: duration,
  report_key: optionalString,
  rollout_id: optionalString,
  run_timeout: duration,
  sealed_dir: optionalString,
  sealed_dir_on_disk: optionalBool,
  stop_timeout: durationOrZero,
  storage: optionalString,
  transfer_timeout: optionalPositiveInt,
  ...credentials,
})

/** A node whose catalog `pupistry validate` compiles: its certname and facts (a mapping, or a YAML or JSON file of them). */
const validateNode = v.object({
  certname: v.pipe(v.string(), v.regex(/^[\w.-]+$/, 'expected a certname (letters, digits, ".", "-", "_")')),
  facts: v.union(
    [v.pipe(v.string(), v.minLength(1)), v.record(v.string(), v.unknown())],
    'expected a facts file, or a mapping of facts',
  ),
})

export const buildSchema = v.looseObject({
  assembler: optionalString,
  hieracrypt: optionalBool,
  legacy_layout: optionalBool,
  legacy_public_key: optionalBool,
  hieracrypt_mac_key_file: optionalString,
  hieracrypt_public: v.nullish(
    v.union(
      [v.pipe(v.string(), v.minLength(1)), v.array(v.pipe(v.string(), v.minLength(1)))],
      'expected a glob or a list of globs, such as data/common.yaml',
    ),
  ),
  puppetcode: optionalString,
  validate_nodes: v.nullish(v.array(validateNode, 'expected a list of {certname, facts}')),
  ...credentials,
})

const sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/i, 'expected a SHA-256 checksum (64 hexadecimal digits)'))
/** A file to download on a node, pinned by its checksum. */
const download = v.object({sha256, url: v.pipe(v.string(), v.regex(/^https:\/\/\S+$/, 'expected an https:// URL'))})
/** Machine architecture as `uname -m` prints it → a download for it. */
const downloadsByArch = v.nullish(v.record(v.picklist(['x86_64', 'aarch64'], 'expected x86_64 or aarch64'), download))

/** What `pupistry bootstrap` and `pupistry packer` put into the scripts they render (docs/templates.md). */
export const bootstrapSchema = v.object({
  app_cache: optionalString,
  node_legacy_tarballs: downloadsByArch,
  node_tarballs: downloadsByArch,
  npm_registry: v.nullish(v.pipe(v.string(), v.regex(/^https?:\/\/\S+$/, 'expected an http:// or https:// URL'))),
  puppet_package: v.nullish(v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9+.-]*$/, 'expected a package name'))),
  puppet_repos: v.nullish(v.record(v.pipe(v.string(), v.minLength(1)), download)),
})

export const settingsSchema = v.object({
  agent: v.nullish(agentSchema),
  bootstrap: v.nullish(bootstrapSchema),
  build: v.nullish(buildSchema),
  general: v.nullish(generalSchema),
})

export type RawSettings = v.InferOutput<typeof settingsSchema>

/** Keys each section knows, for "unknown key" warnings. */
export const knownKeys: Record<string, string[]> = {
  agent: Object.keys(agentSchema.entries),
  bootstrap: Object.keys(bootstrapSchema.entries),
  build: Object.keys(buildSchema.entries),
  general: Object.keys(generalSchema.entries),
}

/** One line for a validation problem: "expected number", or the schema's own message. */
export function describeIssue(issue: v.BaseIssue<unknown>): {path: string[]; message: string} {
  const path = (issue.path ?? []).map((item) => String(item.key))
  const message =
    issue.kind === 'schema' && issue.type !== 'union' && issue.expected ? `expected ${issue.expected}` : issue.message
  return {message, path}
}
