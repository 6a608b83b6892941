import {existsSync, readFileSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'
import * as v from 'valibot'

import {SettingsError} from '../errors.js'
import {parseDuration} from './duration.js'
import {describeIssue, knownKeys, type RawSettings, settingsSchema} from './schema.js'
import {YamlSource} from './yaml-source.js'

export type Section = 'general' | 'agent' | 'build' | 'bootstrap'

export interface Settings {
  /** The file the settings came from, or undefined when none exists. */
  file?: string
  general: NonNullable<RawSettings['general']>
  agent: NonNullable<RawSettings['agent']>
  build: NonNullable<RawSettings['build']>
  bootstrap: NonNullable<RawSettings['bootstrap']>
  /** Warnings found while loading (unknown sections; commands add unknown keys no provider reads). */
  warnings: string[]
  /**
   * Keys of the three sections that pupistry itself does not read. They are
   * passed on to providers, which may read settings of their own; a key no
   * installed provider declares is warned about by the command.
   */
  unknownKeys: UnknownKey[]
}

export interface UnknownKey {
  /** Dotted path, `general.some_key`. */
  key: string
  /** `file:line:column` of the key. */
  location: string
}

/** Warnings for the unknown keys that no installed provider declares it reads either. */
export function undeclaredKeyWarnings(settings: Settings, declared: Set<string>): string[] {
  return settings.unknownKeys
    .filter(({key}) => !declared.has(key))
    .map(
      ({key, location}) =>
        `${location}: unknown key "${key}" ignored (neither pupistry nor an installed plugin reads it)`,
    )
}

/** Where settings.yaml is looked for, in order, when --config is not given. */
export function settingsSearchPath(cwd = process.cwd(), home = homedir()): string[] {
  return [path.join(cwd, 'settings.yaml'), path.join(home, '.pupistry', 'settings.yaml'), '/etc/pupistry/settings.yaml']
}

// Defined apart so that code running before settings are loaded (the compile cache) can use it without the YAML parser.
export {expandHome} from './home.js'

/**
 * Finds and parses settings. An explicit file must exist; without one the
 * first file of the search path is used, and none at all gives empty settings
 * (commands then say which key they need).
 */
export function loadSettings(
  options: {file?: string; cwd?: string; home?: string; requireSafeOwnership?: boolean} = {},
): Settings {
  const file = options.file ?? settingsSearchPath(options.cwd, options.home).find((candidate) => existsSync(candidate))
  if (!file) return {general: {}, agent: {}, build: {}, bootstrap: {}, unknownKeys: [], warnings: []}
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new SettingsError(
      `cannot read settings file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    )
  }

  if (options.requireSafeOwnership) assertNotWritableByOthers(file, 'settings file')
  return parseSettings(text, file)
}

export function parseSettings(text: string, file: string): Settings {
  const source = new YamlSource(text)
  const at = ({column, line}: {line: number; column: number}) => `${file}:${line}:${column}`
  if (source.errors.length > 0) {
    throw settingsProblems(source.errors.map((error) => `${at(error)}: YAML syntax error: ${error.message}`))
  }

  const warnings: string[] = []
  const data = source.empty ? {} : source.toJS()
  if (source.empty) warnings.push(`${file}: the settings file is empty; nothing is set`)
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new SettingsError(
      `${at(source.positionOf([]))}: settings must be a mapping with general, agent and build sections`,
    )
  }

  const unknownKeys: UnknownKey[] = []
  for (const [section, value] of Object.entries(data)) {
    if (!(section in knownKeys)) {
      warnings.push(`${at(source.positionOf([section], 'key'))}: unknown section "${section}" ignored`)
      continue
    }

    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const key of Object.keys(value)) {
        if (!knownKeys[section].includes(key))
          unknownKeys.push({key: `${section}.${key}`, location: at(source.positionOf([section, key], 'key'))})
      }
    }
  }

  const known = Object.fromEntries(Object.entries(data).filter(([section]) => section in knownKeys))
  keepKeyIdAsWritten(source, known)
  const result = v.safeParse(settingsSchema, known)
  if (!result.success) {
    const problems = result.issues.map((issue) => {
      const {message, path: keyPath} = describeIssue(issue)
      return {...source.positionOf(keyPath), message: `${keyPath.join('.') || 'settings'}: ${message}`}
    })
    // In the order of the file, as a user reads and fixes it.
    problems.sort((a, b) => a.line - b.line || a.column - b.column)
    throw settingsProblems(problems.map((problem) => `${at(problem)}: ${problem.message}`))
  }

  return {
    agent: result.output.agent ?? {},
    bootstrap: result.output.bootstrap ?? {},
    build: result.output.build ?? {},
    file,
    general: result.output.general ?? {},
    unknownKeys,
    warnings,
  }
}

/** Every problem at once, so a user fixes the file in one go: one per line, the first on the error's own line. */
function settingsProblems(problems: string[]): SettingsError {
  if (problems.length === 1) return new SettingsError(problems[0])
  return new SettingsError(`${problems.length} problems in the settings:\n${problems.join('\n')}`)
}

/**
 * A GnuPG key id such as 0x1234ABCD or 01234567 is read by YAML as a number
 * (losing its form); use the text exactly as written in the file instead.
 */
function keepKeyIdAsWritten(source: YamlSource, data: Record<string, unknown>): void {
  const general = data.general as Record<string, unknown> | undefined
  if (typeof general?.gpg_signing_key !== 'number') return
  const raw = source.sourceOf(['general', 'gpg_signing_key'])
  if (raw) general.gpg_signing_key = raw
}

/** Where settings came from, for messages: the file, or where none was found. */
export function settingsSource(settings: Settings): string {
  return settings.file ?? `the settings (no file found: ${settingsSearchPath().join(', ')})`
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
      `${what} ${file} is writable by users other than root (owner uid ${stat.uid}, mode ` +
        `${(stat.mode & 0o777).toString(8)}); refusing to use it as root`,
      {hint: `chown root:root ${file} && chmod go-w ${file}`},
    )
  }
}

/** Seconds from a duration setting (number of seconds, or `30m`, `12h`, `7d`, `2w`); the schema has already checked it. */
export function durationSeconds(value: number | string): number {
  const seconds = parseDuration(value)
  if (seconds === undefined) throw new SettingsError(`not a duration: ${value}`)
  return seconds
}
