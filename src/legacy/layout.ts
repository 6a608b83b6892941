import {parse, stringify} from '../vendor/yaml.js'

import {VerificationError} from '../errors.js'

/**
 * The Ruby tool's (pupistry 1.x/2.x) objects, as its agents read them. Its
 * version is the MD5 of the uncompressed tar, its pointer a small YAML file
 * whose `gpgsig` is a detached signature over the `.tar.gz` alone.
 */
export const LEGACY_POINTER = 'manifest.latest.yaml'

export const legacyManifestName = (version: string) => `manifest.${version}.yaml`
export const legacyArtifactName = (version: string) => `artifact.${version}.tar.gz`
export const legacyPublicKeyName = (keyid: string) => `${keyid}.publickey`

/** A version exactly as the Ruby tool makes it (Digest::MD5.hexdigest), on the whole string. */
export const LEGACY_VERSION = /^[0-9a-f]{32}$/

/** The objects prune may retire: versioned manifests and artifacts (never the pointer or a public key). */
const LEGACY_OBJECT = /^(?:manifest\.([0-9a-f]{32})\.yaml|artifact\.([0-9a-f]{32})\.tar\.gz)$/

/** The signature value of a manifest the Ruby tool published without signing. */
export const UNSIGNED = 'unsigned'

/** Far above a real pointer (four short strings and a signature), far below anything that costs memory. */
export const MAX_LEGACY_POINTER_BYTES = 64 * 1024
const MAX_SIGNATURE_CHARS = 32 * 1024
const MAX_TEXT = 1000
const KNOWN = ['version', 'date', 'builduser', 'gpgsig']

export interface LegacyManifest {
  version: string
  date: string
  builduser: string
  /** The detached signature's bytes, or undefined for `gpgsig: unsigned`. */
  signature?: Buffer
}

/** What a name in the Ruby layout is, or undefined for anything else. */
export function parseLegacyName(name: string): {kind: 'manifest' | 'artifact'; version: string} | undefined {
  const match = LEGACY_OBJECT.exec(name)
  if (!match) return undefined
  return match[1] ? {kind: 'manifest', version: match[1]} : {kind: 'artifact', version: match[2]}
}

/**
 * The Ruby tool's manifest, written so that Ruby's YAML.safe_load gives four
 * strings: every value is quoted (a date or an all-digit MD5 would otherwise
 * load as a Time or a number, which safe_load refuses or mangles).
 */
export function formatLegacyManifest(manifest: LegacyManifest): string {
  const gpgsig = manifest.signature ? manifest.signature.toString('base64') : UNSIGNED
  const body = {builduser: manifest.builduser, date: manifest.date, gpgsig, version: manifest.version}
  const ordered = Object.fromEntries(KNOWN.map((key) => [key, body[key as keyof typeof body]]))
  const yaml = stringify(ordered, {defaultKeyType: 'PLAIN', defaultStringType: 'QUOTE_SINGLE', lineWidth: 0})
  return `---\n${yaml}`
}

/** The time as the Ruby tool wrote it (`Time#to_s`): `2026-11-29 19:30:00 +0000`. */
export function legacyDate(now: Date): string {
  return `${now.toISOString().slice(0, 19).replace('T', ' ')} +0000`
}

/**
 * Reads a pointer strictly: a mapping with only the Ruby tool's four keys,
 * each a string (the failsafe schema makes no numbers, dates or classes),
 * the version exactly 32 lower-case hex digits on the whole string (so no
 * second line rides along into anything that uses it), and a signature that
 * is `unsigned` or base64 (line breaks allowed, as Ruby's Base64.encode64
 * writes them).
 */
export function parseLegacyManifest(bytes: Buffer, where: string): LegacyManifest {
  const refuse = (why: string) => new VerificationError(`${where}: ${why}; refused`)
  if (bytes.length > MAX_LEGACY_POINTER_BYTES) throw refuse(`larger than ${MAX_LEGACY_POINTER_BYTES} bytes`)
  let text: string
  try {
    text = new TextDecoder('utf-8', {fatal: true}).decode(bytes)
  } catch {
    throw refuse('not UTF-8 text')
  }

  let data: unknown
  try {
    data = parse(text, {schema: 'failsafe', uniqueKeys: true})
  } catch (error) {
    throw refuse(`not valid YAML (${(error as Error).message.split('\n')[0]})`)
  }

  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw refuse('not a YAML mapping')
  const fields = data as Record<string, unknown>
  const unknown = Object.keys(fields).filter((key) => !KNOWN.includes(key))
  if (unknown.length > 0) throw refuse(`unknown keys ${unknown.join(', ')}`)
  const stringField = (key: string, max: number, required: boolean): string => {
    const value = fields[key]
    if (value === undefined && !required) return ''
    if (typeof value !== 'string') throw refuse(`${key} is ${value === undefined ? 'missing' : 'not a string'}`)
    if (value.length > max) throw refuse(`${key} is longer than ${max} characters`)
    return value
  }

  const version = stringField('version', 64, true)
  if (!LEGACY_VERSION.test(version)) throw refuse('version is not exactly 32 lower-case hexadecimal digits')
  const gpgsig = stringField('gpgsig', MAX_SIGNATURE_CHARS, true)
  const manifest = {
    builduser: stringField('builduser', MAX_TEXT, false),
    date: stringField('date', MAX_TEXT, false),
    version,
  }
  if (gpgsig === UNSIGNED) return manifest
  const base64 = gpgsig.replace(/\r?\n/g, '')
  if (base64 === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) throw refuse('gpgsig is neither base64 nor "unsigned"')
  return {...manifest, signature: Buffer.from(base64, 'base64')}
}
