import {existsSync, readFileSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'
import {isMap, LineCounter, parseDocument} from 'yaml'

import {SettingsError} from '../errors.js'
import {knownKeys, type RawSettings, settingsSchema} from './schema.js'

export type Section = 'general' | 'agent' | 'build'

export interface Settings {
  /** The file the settings came from, or undefined when none exists. */
  file?: string
  general: NonNullable<RawSettings['general']>
  agent: NonNullable<RawSettings['agent']>
  build: NonNullable<RawSettings['build']>
  /** Warnings found while loading (unknown keys). */
  warnings: string[]
}

/** Where settings.yaml is looked for, in order, when --config is not given. */
export function settingsSearchPath(cwd = process.cwd(), home = homedir()): string[] {
  return [path.join(cwd, 'settings.yaml'), path.join(home, '.pupistry', 'settings.yaml'), '/etc/pupistry/settings.yaml']
}

export function expandHome(value: string, home = homedir()): string {
  return value === '~' ? home : value.startsWith('~/') ? path.join(home, value.slice(2)) : value
}

/**
 * Finds and parses settings. An explicit file must exist; without one the
 * first file of the search path is used, and none at all gives empty settings
 * (commands then say which key they need).
 */
export function loadSettings(options: {file?: string; cwd?: string; home?: string; requireSafeOwnership?: boolean} = {}): Settings {
  const file = options.file ?? settingsSearchPath(options.cwd, options.home).find((candidate) => existsSync(candidate))
  if (!file) return {general: {}, agent: {}, build: {}, warnings: []}
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new SettingsError(`cannot read settings file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
  }

  if (options.requireSafeOwnership) assertNotWritableByOthers(file, 'settings file')
  return parseSettings(text, file)
}

export function parseSettings(text: string, file: string): Settings {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})
  const lineOf = (offset: number | undefined) => (offset === undefined ? undefined : lineCounter.linePos(offset).line)
  if (doc.errors.length > 0) {
    const first = doc.errors[0]
    throw new SettingsError(`${file}:${lineOf(first.pos[0]) ?? '?'}: YAML syntax error: ${first.message.split('\n')[0]}`)
  }

  const data = doc.toJS() ?? {}
  keepKeyIdAsWritten(doc, data)
  const locate = (keyPath: PropertyKey[]): string => {
    const node = doc.getIn(keyPath as string[], true) as {range?: [number, number]} | undefined
    const pair = keyPath.length > 0 ? findKeyNode(doc.contents, keyPath as string[]) : undefined
    const offset = pair ?? node?.range?.[0]
    const line = lineOf(offset)
    return line === undefined ? file : `${file}:${line}`
  }

  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new SettingsError(`${file}:1: settings must be a mapping with general, agent and build sections`)
  }

  const warnings: string[] = []
  for (const [section, value] of Object.entries(data as Record<string, unknown>)) {
    if (!(section in knownKeys)) {
      warnings.push(`${locate([section])}: unknown section "${section}" ignored`)
      continue
    }

    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const key of Object.keys(value)) {
        if (!knownKeys[section].includes(key)) warnings.push(`${locate([section, key])}: unknown key "${section}.${key}" ignored`)
      }
    }
  }

  const known = Object.fromEntries(Object.entries(data as Record<string, unknown>).filter(([section]) => section in knownKeys))
  const result = settingsSchema.safeParse(known)
  if (!result.success) {
    const issue = result.error.issues[0]
    const keyPath = issue.path.filter((part) => typeof part === 'string' || typeof part === 'number')
    throw new SettingsError(`${locate(keyPath)}: ${keyPath.join('.') || 'settings'}: ${describeIssue(issue)}`)
  }

  return {
    file,
    general: result.data.general ?? {},
    agent: result.data.agent ?? {},
    build: result.data.build ?? {},
    warnings,
  }
}

/**
 * A GnuPG key id such as 0x1234ABCD or 01234567 is read by YAML as a number
 * (losing its form); use the text exactly as written in the file instead.
 */
function keepKeyIdAsWritten(doc: ReturnType<typeof parseDocument>, data: unknown): void {
  const node = doc.getIn(['general', 'gpg_signing_key'], true) as {source?: unknown; value?: unknown} | undefined
  const general = (data as {general?: Record<string, unknown>})?.general
  if (general && typeof node?.value === 'number' && typeof node.source === 'string') general.gpg_signing_key = node.source
}

function describeIssue(issue: {code: string; message: string; expected?: unknown}): string {
  if (issue.code === 'invalid_type' && issue.expected) return `expected ${String(issue.expected)}`
  return issue.message
}

/** Offset of the key token for a path, so errors point at the line users edit. */
function findKeyNode(root: unknown, keyPath: string[]): number | undefined {
  let node = root
  let offset: number | undefined
  for (const key of keyPath) {
    if (!isMap(node)) return offset
    const pair = node.items.find((item) => String((item.key as {value?: unknown})?.value) === String(key))
    if (!pair) return offset
    offset = (pair.key as {range?: [number, number]}).range?.[0]
    node = pair.value
  }

  return offset
}

/** Reads a settings value and fails with the file and key when it is missing. */
export function requireSetting<S extends Section, K extends keyof Settings[S] & string>(
  settings: Settings,
  section: S,
  key: K,
  why: string,
): NonNullable<Settings[S][K]> {
  const value = settings[section][key]
  if (value === undefined || value === null || value === '') {
    const where = settings.file ?? `no settings file found (looked in ${settingsSearchPath().join(', ')})`
    throw new SettingsError(`${section}.${key} is not set (${where}): ${why}`, {
      hint: settings.file ? undefined : 'run `pupistry setup` to write an example settings file',
    })
  }

  return value as NonNullable<Settings[S][K]>
}

/**
 * Root runs the agent: a settings or key file that another user can write
 * would let that user take over the node, so it is refused.
 */
export function assertNotWritableByOthers(file: string, what: string): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return
  const stat = statSync(file)
  if (stat.uid !== 0 || (stat.mode & 0o022) !== 0) {
    throw new SettingsError(
      `${what} ${file} is writable by users other than root (owner uid ${stat.uid}, mode ${(stat.mode & 0o777).toString(8)}); refusing to use it as root`,
      {hint: `chown root:root ${file} && chmod go-w ${file}`},
    )
  }
}

/** Seconds from a duration setting (number of seconds, or `30m`, `12h`, `7d`, `2w`). */
export function durationSeconds(value: number | string): number {
  if (typeof value === 'number') return value
  const match = /^(\d+)\s*([smhdw]?)$/.exec(value.trim())
  if (!match) throw new SettingsError(`not a duration: ${value}`)
  const unit = {'': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800}[match[2] as '' | 's' | 'm' | 'h' | 'd' | 'w']
  return Number(match[1]) * unit
}
