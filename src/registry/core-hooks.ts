import {existsSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import type {HookOutcome, PluginInfo, RunHook} from './registry.js'

interface PackageJson {
  name: string
  version: string
  oclif?: {bin?: string; dirname?: string; hooks?: Record<string, unknown>; plugins?: string[]}
}

interface CorePlugin {
  info: PluginInfo
  root: string
  hooks: Record<string, string[]>
}

const readJson = (file: string): PackageJson => JSON.parse(readFileSync(file, 'utf8'))

/** A plugin's hook files by event, or undefined when it declares them in a way only oclif reads. */
function hookFiles(hooks: Record<string, unknown> | undefined): Record<string, string[]> | undefined {
  const files: Record<string, string[]> = {}
  for (const [event, value] of Object.entries(hooks ?? {})) {
    const list = Array.isArray(value) ? value : [value]
    if (!list.every((item) => typeof item === 'string')) return undefined
    files[event] = list as string[]
  }
  return files
}

interface HookModule {
  /** Each event's hook types its own options; the runner passes none. */
  default: (options: never) => unknown
}

/**
 * The CLI's own hook files, as package.json names them, each with a static
 * import of it: the agent's path is one bundle (scripts/bundle.mjs),
 * and a hook loaded from its file there would bring a second copy of the
 * modules it shares with the bundle (error classes among them).
 */
export type OwnHooks = Record<string, (() => Promise<HookModule>) | undefined>

/**
 * The hooks of the CLI and its bundled plugins, run without oclif's
 * configuration: what an agent command needs when no plugin is installed.
 * Undefined when oclif must decide: plugins installed or linked by a user
 * (their hooks count too), a hook declared in a form read only by oclif, or
 * one of the CLI's own pupistry hooks missing from ownHooks.
 */
export function coreHookRunner(
  cliRoot: string,
  ownHooks: OwnHooks,
): {run: RunHook; version: string; bin: string} | undefined {
  const cli = readJson(path.join(cliRoot, 'package.json'))
  const bin = cli.oclif?.bin ?? cli.name
  if (hasUserPlugins(bin, cli.oclif?.dirname ?? bin)) return undefined
  const plugins: CorePlugin[] = []
  for (const root of [cliRoot, ...(cli.oclif?.plugins ?? []).map((name) => packageRoot(cliRoot, name))]) {
    const pkg = root === undefined ? undefined : readJson(path.join(root, 'package.json'))
    const hooks = hookFiles(pkg?.oclif?.hooks)
    if (!root || !pkg || !hooks) return undefined
    plugins.push({hooks, info: {name: pkg.name, type: 'core', version: pkg.version}, root})
  }
  const own = Object.entries(plugins[0]?.hooks ?? {}).filter(([event]) => event.startsWith('pupistry:'))
  if (!own.every(([, files]) => files.every((file) => ownHooks[file]))) return undefined

  const load = (plugin: CorePlugin, file: string) =>
    plugin.root === cliRoot
      ? (ownHooks[file] as () => Promise<HookModule>)()
      : (import(pathToFileURL(path.join(plugin.root, file)).href) as Promise<HookModule>)
  const run: RunHook = async (event) => {
    const outcome: HookOutcome = {failures: [], successes: []}
    for (const plugin of plugins) {
      for (const file of plugin.hooks[event] ?? []) {
        try {
          const module = await load(plugin, file)
          const result = await module.default({} as never)
          outcome.successes.push({plugin: plugin.info, result})
        } catch (error) {
          outcome.failures.push({error: error as Error, plugin: plugin.info})
        }
      }
    }
    return outcome
  }
  return {bin, run, version: cli.version}
}

/** Where Node would find a package from the CLI's root: its node_modules, then each parent's. */
function packageRoot(from: string, name: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name)
    if (existsSync(path.join(candidate, 'package.json'))) return candidate
    if (path.dirname(dir) === dir) return undefined
  }
}

/** Plugins installed or linked with `pupistry plugins`, listed where oclif keeps them (its data directory). */
function hasUserPlugins(bin: string, dirname: string): boolean {
  const scoped = process.env[`${bin.toUpperCase().replaceAll('-', '_')}_DATA_DIR`]
  const data = scoped || path.join(process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'), dirname)
  const file = path.join(data, 'package.json')
  if (!existsSync(file)) return false
  try {
    return (readJson(file).oclif?.plugins ?? []).length > 0
  } catch {
    return true
  }
}
