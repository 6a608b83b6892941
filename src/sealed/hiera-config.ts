import {parse} from '../vendor/yaml.js'

import {HieraSelectionError} from '../errors.js'

/** How one hierarchy level names its data files (Hiera 5); every template may interpolate. */
export type LevelPaths =
  | {kind: 'path'; templates: string[]}
  | {kind: 'glob'; templates: string[]}
  | {kind: 'mapped'; variable: string; key: string; template: string}

export interface HieraLevel {
  name: string
  /** The level's data directory, relative to the environment ('/'-separated, normalised). */
  datadir: string
  paths: LevelPaths
}

export interface HieraConfig {
  levels: HieraLevel[]
  /** Every data directory a file level reads: what `build.hieracrypt` protects. */
  datadirs: string[]
}

/** Backends that read files: the only ones whose data the builder can select per node. */
const FILE_BACKENDS = new Set(['yaml_data', 'json_data', 'hocon_data', 'eyaml_lookup_key'])

const PATH_KEYS = ['path', 'paths', 'glob', 'globs', 'mapped_paths'] as const

type RawLevel = Record<string, unknown>

/**
 * Reads an environment's hiera.yaml (Hiera 5). Hiera 3 files and levels
 * that read protected data through something other than files are refused:
 * the builder could not tell which node needs what, and guessing would ship
 * data to nodes that must not have it.
 */
export function parseHieraConfig(text: string, where: string): HieraConfig {
  let data: unknown
  try {
    data = parse(text)
  } catch (error) {
    throw new HieraSelectionError(`${where}: not valid YAML (${(error as Error).message.split('\n')[0]})`)
  }

  if (!isMap(data)) throw new HieraSelectionError(`${where}: expected a mapping`)
  if (data.version !== 5) {
    const hiera3 = ':backends' in data || ':hierarchy' in data || data.version === 3
    throw new HieraSelectionError(
      `${where}: ${hiera3 ? 'a Hiera 3 configuration' : `hiera.yaml version ${String(data.version)}`}; ` +
        'build.hieracrypt needs a Hiera 5 hiera.yaml (version: 5)',
      {hint: 'convert it to Hiera 5 (Puppet documents the conversion: "Migrating to Hiera 5")'},
    )
  }

  const defaults = isMap(data.defaults) ? data.defaults : {}
  const defaultDir = typeof defaults.datadir === 'string' ? defaults.datadir : 'data'
  const raw = [
    ...levelList(data.hierarchy, where, 'hierarchy'),
    ...levelList(data.default_hierarchy, where, 'default_hierarchy'),
  ]
  const levels: HieraLevel[] = []
  const foreign: Array<{name: string; datadir: string; backend: string}> = []
  for (const level of raw) {
    const name = typeof level.name === 'string' ? level.name : '(unnamed)'
    const datadir = normaliseDir(typeof level.datadir === 'string' ? level.datadir : defaultDir, where, name)
    const backend = backendOf(level, defaults)
    const paths = pathsOf(level, where, name)
    if (backend === undefined || !FILE_BACKENDS.has(backend)) {
      foreign.push({backend: backend ?? 'none', datadir, name})
      continue
    }

    levels.push({datadir, name, paths: paths ?? {kind: 'path', templates: [name]}})
  }

  const datadirs = [...new Set(levels.map((level) => level.datadir))].sort()
  for (const level of foreign) {
    if (datadirs.some((dir) => within(level.datadir, dir) || within(dir, level.datadir))) {
      throw new HieraSelectionError(
        `${where}: level "${level.name}" uses backend ${level.backend}, which does not read files, on ` +
          `${level.datadir}, where build.hieracrypt protects data; it could read any node's data`,
        {hint: 'give that level a datadir outside the protected data directories, or use a file backend'},
      )
    }
  }

  return {datadirs, levels}
}

/** Is `inner` the directory `outer` or below it ('/'-separated, normalised). */
export function within(inner: string, outer: string): boolean {
  return outer === '.' || inner === outer || inner.startsWith(`${outer}/`)
}

function levelList(value: unknown, where: string, key: string): RawLevel[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || !value.every(isMap))
    throw new HieraSelectionError(`${where}: ${key} must be a list of levels`)
  return value
}

function backendOf(level: RawLevel, defaults: RawLevel): string | undefined {
  for (const key of ['data_hash', 'lookup_key', 'data_dig']) {
    if (typeof level[key] === 'string') return level[key] as string
  }

  // A level without its own function takes the defaults' (Hiera allows data_hash or lookup_key there).
  for (const key of ['data_hash', 'lookup_key', 'data_dig']) {
    if (typeof defaults[key] === 'string') return defaults[key] as string
  }

  return undefined
}

function pathsOf(level: RawLevel, where: string, name: string): LevelPaths | undefined {
  const given = PATH_KEYS.filter((key) => level[key] !== undefined)
  if (given.length > 1)
    throw new HieraSelectionError(`${where}: level "${name}" has more than one of ${given.join(', ')}`)
  const bad = () => new HieraSelectionError(`${where}: level "${name}": ${given[0]} has the wrong type`)
  switch (given[0]) {
    case undefined:
      return undefined
    case 'path':
    case 'glob': {
      if (typeof level[given[0]] !== 'string') throw bad()
      return {kind: given[0], templates: [level[given[0]] as string]}
    }

    case 'paths':
    case 'globs': {
      const list = level[given[0]]
      if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) throw bad()
      return {kind: given[0] === 'paths' ? 'path' : 'glob', templates: list as string[]}
    }

    case 'mapped_paths': {
      const list = level.mapped_paths
      if (!Array.isArray(list) || list.length !== 3 || !list.every((item) => typeof item === 'string')) throw bad()
      return {key: list[1], kind: 'mapped', template: list[2], variable: list[0]}
    }
  }
}

function normaliseDir(dir: string, where: string, name: string): string {
  const parts: string[] = []
  for (const part of dir.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..' || dir.startsWith('/') || dir.includes('%{'))
      throw new HieraSelectionError(
        `${where}: level "${name}": datadir ${dir} is not a plain directory inside the environment; ` +
          'build.hieracrypt can only protect data the environment holds',
      )
    parts.push(part)
  }

  return parts.length === 0 ? '.' : parts.join('/')
}

export function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
