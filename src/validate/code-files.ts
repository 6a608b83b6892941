import {readdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import {parse} from '../vendor/yaml.js'

/** The files of an environment that Puppet reads, relative to its root ('/'-separated). */
export interface CodeFiles {
  /** The environment's manifests and each module's classes, defined types, functions and type aliases. */
  manifests: string[]
  /** Each module's EPP templates. */
  templates: string[]
  /** hiera.yaml files and the YAML data under their data directories (environment and modules). */
  yaml: string[]
}

/** The directories of a module that Puppet parses as Puppet language. */
const MODULE_CODE_DIRS = ['manifests', 'functions', 'types']

/**
 * What Puppet would load from the environment: its manifests, the modules on
 * its modulepath (environment.conf, else `modules`) and hiera data. Files
 * elsewhere (a module's spec fixtures or examples) are not Puppet's business.
 */
export async function codeFiles(root: string): Promise<CodeFiles> {
  const moduleRoots: string[] = []
  for (const dir of await modulepath(root)) {
    for (const name of await subdirs(path.join(root, dir))) moduleRoots.push(join(dir, name))
  }

  const manifests = await filesUnder(root, ['manifests'], ['.pp'])
  const templates: string[] = []
  const yaml = await hieraFiles(root, '')
  for (const module of moduleRoots) {
    manifests.push(
      ...(await filesUnder(
        root,
        MODULE_CODE_DIRS.map((dir) => join(module, dir)),
        ['.pp'],
      )),
    )
    templates.push(...(await filesUnder(root, [join(module, 'templates')], ['.epp'])))
    yaml.push(...(await hieraFiles(root, module)))
  }

  return {manifests, templates, yaml}
}

function join(...parts: string[]): string {
  return parts.filter(Boolean).join('/')
}

/** environment.conf's modulepath entries inside the environment; `$basemodulepath` and absolute paths are not in the artifact. */
async function modulepath(root: string): Promise<string[]> {
  const conf = await readFile(path.join(root, 'environment.conf'), 'utf8').catch(() => '')
  const value = /^\s*modulepath\s*=\s*(.+?)\s*$/m.exec(conf)?.[1]
  if (!value) return ['modules']
  return value
    .replace(/^(['"])(.*)\1$/, '$2')
    .split(':')
    .filter((entry) => entry && !entry.startsWith('$') && !path.isAbsolute(entry))
    .map((entry) => path.posix.normalize(entry).replace(/\/$/, ''))
    .filter((entry) => entry !== '..' && !entry.startsWith('../'))
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {withFileTypes: true}).catch(() => [])
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
}

/** Regular files with one of the extensions below the directories (relative to root), sorted. */
async function filesUnder(root: string, dirs: string[], extensions: string[]): Promise<string[]> {
  const found: string[] = []
  for (const dir of dirs) {
    const entries = await readdir(path.join(root, dir), {recursive: true, withFileTypes: true}).catch(() => [])
    for (const entry of entries) {
      if (!entry.isFile() || !extensions.some((extension) => entry.name.endsWith(extension))) continue
      found.push(path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    }
  }

  return found.sort()
}

/** A layer's hiera.yaml and the YAML files under the data directories it names (`data` by default). */
async function hieraFiles(root: string, layer: string): Promise<string[]> {
  const config = join(layer, 'hiera.yaml')
  const text = await readFile(path.join(root, config), 'utf8').catch(() => undefined)
  if (text === undefined) return []
  let parsed: unknown
  try {
    parsed = parse(text, {uniqueKeys: false})
  } catch {
    // The YAML check reports the broken hiera.yaml itself.
    return [config]
  }

  const settings = (parsed ?? {}) as {defaults?: {datadir?: unknown}; hierarchy?: Array<{datadir?: unknown}>}
  const datadirs = new Set<string>()
  const defaultDir = typeof settings.defaults?.datadir === 'string' ? settings.defaults.datadir : 'data'
  datadirs.add(defaultDir)
  for (const level of Array.isArray(settings.hierarchy) ? settings.hierarchy : []) {
    if (typeof level?.datadir === 'string') datadirs.add(level.datadir)
  }

  const inside = [...datadirs]
    .filter((dir) => !path.isAbsolute(dir))
    .map((dir) => path.posix.normalize(join(layer, dir)))
    .filter((dir) => dir !== '..' && !dir.startsWith('../'))
  return [config, ...(await filesUnder(root, inside, ['.yaml', '.yml', '.eyaml']))]
}
