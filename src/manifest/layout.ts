/**
 * Where things live in a store. Everything pupistry writes is below
 * `pupistry/`, so it never collides with the Ruby tool's objects
 * (manifest.latest.yaml, artifact.*.tar.gz, *.publickey) in the same prefix.
 */
export const LAYOUT_ROOT = 'pupistry'

/** Puppet's own rule for environment names, with upper case as r10k leaves it. */
export const ENVIRONMENT_PATTERN = /^[A-Za-z0-9_]{1,100}$/

export const SERIAL_DIGITS = 12

export function pointerKey(environment: string): string {
  return `${LAYOUT_ROOT}/${environment}/latest.json`
}

export function manifestsPrefix(environment: string): string {
  return `${LAYOUT_ROOT}/${environment}/manifests/`
}

export function manifestKey(environment: string, serial: number): string {
  return `${manifestsPrefix(environment)}${String(serial).padStart(SERIAL_DIGITS, '0')}.json`
}

export function artifactKey(environment: string, sha256: string): string {
  return `${LAYOUT_ROOT}/${environment}/artifacts/${sha256}.tar.gz`
}

/** The serial a manifest key names, or undefined for keys of another shape. */
export function serialOfKey(key: string): number | undefined {
  const match = /\/manifests\/(\d+)\.json$/.exec(key)
  return match ? Number(match[1]) : undefined
}
