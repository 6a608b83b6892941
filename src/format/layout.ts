import {CHANNEL_NAME, STABLE_CHANNEL} from './channel.js'
import {ENVIRONMENT_NAME} from './environment.js'

/**
 * Where things live in a store. Everything pupistry writes is below
 * `pupistry/`, so it never collides with the Ruby tool's objects
 * (manifest.latest.yaml, artifact.*.tar.gz, *.publickey) in the same prefix.
 */
export const LAYOUT_ROOT = 'pupistry'

export const SERIAL_DIGITS = 12

const POINTER_NAME = 'latest.json'

/**
 * The pointer of an environment's channel: `latest.json` for stable (what
 * every node has always read), `channels/<channel>.json` for the others.
 */
export function pointerKey(environment: string, channel: string = STABLE_CHANNEL): string {
  return channel === STABLE_CHANNEL
    ? `${LAYOUT_ROOT}/${environment}/${POINTER_NAME}`
    : `${channelsPrefix(environment)}${channel}.json`
}

/**
 * A manifest signed by fewer keys than general.signature_threshold asks,
 * waiting for `pupistry sign`: one per channel, never read by nodes.
 */
export function preparedKey(environment: string, channel: string = STABLE_CHANNEL): string {
  return `${LAYOUT_ROOT}/${environment}/prepared/${channel}.json`
}

export function channelsPrefix(environment: string): string {
  return `${LAYOUT_ROOT}/${environment}/channels/`
}

const CHANNEL_POINTER = new RegExp(`^${LAYOUT_ROOT}/${ENVIRONMENT_NAME}/channels/(${CHANNEL_NAME})\\.json$`)

/** The channel a pointer key of another channel than stable names, or undefined for other keys. */
export function channelOfPointerKey(key: string): string | undefined {
  return CHANNEL_POINTER.exec(key)?.[1]
}

export function manifestsPrefix(environment: string): string {
  return `${LAYOUT_ROOT}/${environment}/manifests/`
}

export function manifestKey(environment: string, serial: number): string {
  return `${manifestsPrefix(environment)}${String(serial).padStart(SERIAL_DIGITS, '0')}.json`
}

/**
 * The signed provenance record of a promoted manifest that carries none
 * itself (a format-1 manifest, which has no member for it), by the serial
 * of that manifest.
 */
export function provenanceKey(environment: string, serial: number): string {
  return `${provenancePrefix(environment)}${String(serial).padStart(SERIAL_DIGITS, '0')}.json`
}

export function provenancePrefix(environment: string): string {
  return `${LAYOUT_ROOT}/${environment}/provenance/`
}

export function artifactKey(environment: string, sha256: string): string {
  return `${LAYOUT_ROOT}/${environment}/artifacts/${sha256}.tar.gz`
}

/** Where an environment's sealed indexes are. */
export function sealedIndexPrefix(environment: string): string {
  return `${LAYOUT_ROOT}/${environment}/sealed/index/`
}

/** The signed index of an environment's sealed hiera data, by its SHA-256. */
export function sealedIndexKey(environment: string, sha256: string): string {
  return `${sealedIndexPrefix(environment)}${sha256}.json`
}

/** One encrypted bundle of sealed hiera data, by the SHA-256 of its ciphertext. */
export function sealedBundleKey(environment: string, sha256: string): string {
  return `${LAYOUT_ROOT}/${environment}/sealed/bundles/${sha256}.pgp`
}

/** The serial a manifest (or provenance record) key names, or undefined for keys of another shape. */
export function serialOfKey(key: string, folder: 'manifests' | 'provenance' = 'manifests'): number | undefined {
  const match = new RegExp(`/${folder}/(\\d+)\\.json$`).exec(key)
  return match ? Number(match[1]) : undefined
}

const OWN_KEY = {
  artifact: new RegExp(`^${LAYOUT_ROOT}/(${ENVIRONMENT_NAME})/artifacts/([0-9a-f]{64})\\.tar\\.gz$`),
  manifest: new RegExp(`^${LAYOUT_ROOT}/(${ENVIRONMENT_NAME})/manifests/(\\d{${SERIAL_DIGITS}})\\.json$`),
}

/** The shape of an artifact key, for the manifest schema. */
export const ARTIFACT_KEY_PATTERN = OWN_KEY.artifact

/** The shapes of sealed-data keys, for the manifest and index schemas. */
export const SEALED_INDEX_KEY_PATTERN = new RegExp(
  `^${LAYOUT_ROOT}/(${ENVIRONMENT_NAME})/sealed/index/([0-9a-f]{64})\\.json$`,
)
export const SEALED_BUNDLE_KEY_PATTERN = new RegExp(
  `^${LAYOUT_ROOT}/(${ENVIRONMENT_NAME})/sealed/bundles/([0-9a-f]{64})\\.pgp$`,
)

/** An immutable object of our own layout: a manifest, an artifact, or sealed data (index, bundle) of one environment. */
export type OwnObject =
  | {kind: 'manifest'; environment: string; serial: number}
  | {kind: 'artifact' | 'index' | 'bundle'; environment: string; sha256: string}

/**
 * What a key is in our layout; undefined for any other key. Only keys of
 * exactly these shapes (and the provenance records of pruned manifests) are
 * ever deleted (prune): anything else in the store
 * (the Ruby tool's manifest.latest.yaml, artifact.*.tar.gz and *.publickey,
 * or files an operator put there) is not pupistry's to remove.
 */
export function parseOwnKey(key: string): OwnObject | undefined {
  const manifest = OWN_KEY.manifest.exec(key)
  if (manifest) return {environment: manifest[1], kind: 'manifest', serial: Number(manifest[2])}
  const shapes = [
    ['artifact', OWN_KEY.artifact],
    ['index', SEALED_INDEX_KEY_PATTERN],
    ['bundle', SEALED_BUNDLE_KEY_PATTERN],
  ] as const
  for (const [kind, pattern] of shapes) {
    const match = pattern.exec(key)
    if (match) return {environment: match[1], kind, sha256: match[2]}
  }

  return undefined
}
