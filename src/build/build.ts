import {chmod, mkdtemp, rename, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {packTree} from '../artifact/pack.js'
import {settingsSource} from '../config/settings.js'
import type {AssembledEnvironment} from '../contracts.js'
import {AssemblerError, fromProviderError, SettingsError, UsageError} from '../errors.js'
import {checkEnvironmentName, ENVIRONMENT_PATTERN} from '../format/environment.js'
import {artifactKey} from '../format/layout.js'
import type {BuildRecord} from '../format/manifest.js'
import {providerContext, type Runtime} from '../runtime.js'
import {redactUrl} from '../util/redact.js'
import {BuildCache, CACHE_FILE_MODE} from './build-cache.js'
import {type SourceSnapshot, snapshotWorkingTree} from './source-tree.js'

export interface BuiltEnvironment {
  record: BuildRecord
  /** Same version as the previous build of this environment. */
  unchanged: boolean
  previous?: string
  skipped: string[]
}

/** A working tree to build as one environment, instead of build.puppetcode's branches. */
export interface SourceOption {
  dir: string
  as: string
}

/**
 * Assembles the control repo (or a working tree) and packs each environment
 * into one deterministic artifact in the build cache.
 */
export async function build(
  runtime: Runtime,
  options: {environments?: string[]; source?: SourceOption},
): Promise<BuiltEnvironment[]> {
  const {settings} = runtime
  if (settings.build.hieracrypt) {
    throw new SettingsError(
      `build.hieracrypt is true in ${settingsSource(settings)}, but hieracrypt is not supported by this ` +
        `pupistry yet; refusing to build rather than ship hiera data in the clear`,
      {hint: 'set build.hieracrypt: false (hiera data is then readable by anyone who can read the store)'},
    )
  }

  if (!settings.build.puppetcode && !options.source) {
    throw new SettingsError(
      `build.puppetcode is not set in ${settingsSource(settings)}: the URL of your Puppet control repo`,
      {
        hint: settings.file ? undefined : 'run `pupistry setup` to write an example settings file',
      },
    )
  }

  for (const name of options.environments ?? []) {
    if (!/^[\w.-]+$/.test(name)) throw new UsageError(`not a branch or environment name: ${name}`)
  }

  if (!options.source) return assembleAndPack(runtime, {environments: options.environments})
  const environment = checkEnvironmentName(options.source.as)
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'pupistry-source-'))
  try {
    const snapshot = await snapshotWorkingTree(options.source.dir, environment, scratch)
    return await assembleAndPack(runtime, {
      environments: [environment],
      source: {...snapshot, cacheDir: path.join(scratch, 'assembler'), dir: options.source.dir},
    })
  } finally {
    await rm(scratch, {force: true, recursive: true})
  }
}

/**
 * Runs the assembler and packs what it made. With a source, the assembler
 * deploys the snapshot's repository in a cache of its own, so the
 * environments it keeps for build.puppetcode are left alone.
 */
async function assembleAndPack(
  runtime: Runtime,
  options: {environments?: string[]; source?: SourceSnapshot & {cacheDir: string; dir: string}},
): Promise<BuiltEnvironment[]> {
  const {settings} = runtime
  const {source} = options
  const assemblerName = settings.build.assembler ?? 'r10k'
  const {descriptor} = await runtime.registry.get('assemblers', assemblerName)
  const standard = providerContext(runtime, 'build', descriptor.name)
  const context = source
    ? {
        ...standard,
        cacheDir: source.cacheDir,
        settings: {...standard.settings, build: {...standard.settings.build, puppetcode: source.url}},
      }
    : standard
  const assembler = await Promise.resolve(descriptor.create(context)).catch((error) => {
    throw fromProviderError(error, `assembler ${assemblerName}`, AssemblerError)
  })
  const origin = source ? `the working tree ${source.dir}` : redactUrl(settings.build.puppetcode ?? '')
  runtime.log.info(
    `Assembling ${options.environments?.join(', ') || 'all branches'} of ${origin} with ${assemblerName}`,
  )
  const environments = await assembler.assemble({environments: options.environments}).catch((error) => {
    throw fromProviderError(error, `assembler ${assemblerName}`, AssemblerError)
  })
  const tools = {
    node: process.versions.node,
    pupistry: runtime.version,
    ...(await assembler.versions?.().catch(() => ({}))),
  }

  const cache = new BuildCache(settings)
  const results: BuiltEnvironment[] = []
  for (const environment of environments) {
    if (!ENVIRONMENT_PATTERN.test(environment.name)) {
      throw new AssemblerError(
        `assembler ${assemblerName} produced an environment named "${environment.name}", which Puppet cannot use`,
      )
    }

    // The snapshot's own commit means nothing outside this run; the checkout's HEAD does.
    const assembled = source ? {...environment, commit: source.commit} : environment
    results.push(await packEnvironment(runtime, cache, assembled, {assembler: assemblerName, tools}))
  }

  const built = results.map((result) => result.record.environment)
  const names = options.environments ? [...new Set([...(await cache.environments()), ...built])] : built
  await cache.setEnvironments(names)
  return results
}

async function packEnvironment(
  runtime: Runtime,
  cache: BuildCache,
  environment: AssembledEnvironment,
  meta: {assembler: string; tools: Record<string, string>},
): Promise<BuiltEnvironment> {
  const dir = await cache.makeDir(environment.name)
  const temp = path.join(dir, `.building-${process.pid}.tar.gz`)
  runtime.log.progress(`Packing ${environment.name}`)
  let packed
  try {
    packed = await packTree(environment.path, temp, (total) => runtime.log.meter(`Packing ${environment.name}`, total))
  } catch (error) {
    await rm(temp, {force: true})
    throw new AssemblerError(`cannot pack environment ${environment.name}: ${(error as Error).message}`)
  }

  await chmod(temp, CACHE_FILE_MODE)
  await rename(temp, cache.artifactPath(environment.name, packed.sha256))
  const previous = await cache.read(environment.name)
  const record: BuildRecord = {
    artifact: {
      files: packed.files,
      key: artifactKey(environment.name, packed.sha256),
      sha256: packed.sha256,
      size: packed.size,
      unpacked_size: packed.unpackedSize,
    },
    build: {
      assembler: meta.assembler,
      commit: environment.commit ?? null,
      host: os.hostname(),
      modules: environment.modules,
      tools: meta.tools,
      user: os.userInfo().username,
    },
    built: new Date().toISOString(),
    environment: environment.name,
    version: packed.sha256,
  }
  const unchanged = previous?.version === record.version
  // An unchanged build keeps its record, so its build time says when the content was made.
  if (!unchanged) await cache.write(record)
  await cache.remember(unchanged && previous ? previous : record)
  await cache.prune(environment.name, record.version)
  return {
    previous: previous?.version,
    record: unchanged && previous ? previous : record,
    skipped: packed.skipped,
    unchanged,
  }
}
