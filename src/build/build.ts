import {chmod, mkdtemp, rename, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {packTree} from '../artifact/pack.js'
import {settingsSource} from '../config/settings.js'
import type {AssembledEnvironment, FailedEnvironment} from '../contracts.js'
import {
  AssemblerError,
  fromProviderError,
  isPermissionDenied,
  PartialBuildError,
  SettingsError,
  StoppedError,
  UsageError,
} from '../errors.js'
import {checkEnvironmentName, ENVIRONMENT_PATTERN} from '../format/environment.js'
import {artifactKey} from '../format/layout.js'
import type {BuildRecord} from '../format/manifest.js'
import {providerContext, type Runtime} from '../runtime.js'
import {redactUrl} from '../util/redact.js'
import {planEnvironment, publicGlobs} from '../sealed/plan.js'
import {writeReaders} from '../sealed/readers.js'
import {readRegistry, REGISTRY_DIR} from '../sealed/registry.js'
import {type SealResult, sealEnvironment} from '../sealed/seal.js'
import {BuildCache, CACHE_DIR_MODE, CACHE_FILE_MODE, type FailedBuild} from './build-cache.js'
import {type SourceSnapshot, snapshotWorkingTree} from './source-tree.js'
import {currentUserName} from '../util/user.js'

export interface BuildOutcome {
  built: BuiltEnvironment[]
  failed: FailedBuild[]
}

export interface BuiltEnvironment {
  record: BuildRecord
  /** Same version as the previous build of this environment. */
  unchanged: boolean
  previous?: string
  skipped: string[]
  /** With build.hieracrypt: how the environment's protected hiera data was sealed. */
  sealed?: SealResult
}

/** A working tree to build as one environment, instead of build.puppetcode's branches. */
export interface SourceOption {
  dir: string
  as: string
}

/**
 * Assembles the control repo (or a working tree) and packs each environment
 * into one deterministic artifact in the build cache. Environments fail on
 * their own: the others are still packed, and the failures are returned
 * beside them.
 */
export async function build(
  runtime: Runtime,
  options: {environments?: string[]; source?: SourceOption; signal?: AbortSignal},
): Promise<BuildOutcome> {
  const {settings} = runtime
  if (settings.build.hieracrypt) checkSealingSettings(runtime)

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

  const {signal} = options
  if (!options.source) return assembleAndPack(runtime, {environments: options.environments, signal})
  const environment = checkEnvironmentName(options.source.as)
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'pupistry-source-'))
  try {
    const snapshot = await snapshotWorkingTree(options.source.dir, environment, scratch)
    return await assembleAndPack(runtime, {
      environments: [environment],
      signal,
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
  options: {environments?: string[]; signal?: AbortSignal; source?: SourceSnapshot & {cacheDir: string; dir: string}},
): Promise<BuildOutcome> {
  const {settings} = runtime
  const {signal, source} = options
  const {assembled, assemblerName, tools} = await assemble(runtime, options)
  const cache = new BuildCache(settings)
  const built: BuiltEnvironment[] = []
  const failed: FailedBuild[] = []
  for (const environment of assembled) {
    if ('error' in environment) {
      failed.push(failedBuild(environment))
      continue
    }

    // Each environment on its own: a name Puppet cannot use or a tree that cannot be packed fails only this one.
    try {
      if (!ENVIRONMENT_PATTERN.test(environment.name)) {
        throw new AssemblerError(
          `assembler ${assemblerName} produced an environment named "${environment.name}", which Puppet cannot use`,
        )
      }

      // The snapshot's own commit means nothing outside this run; the checkout's HEAD does.
      const packed = source ? {...environment, commit: source.commit} : environment
      built.push(await packEnvironment(runtime, cache, packed, {assembler: assemblerName, signal, tools}))
    } catch (error) {
      if (signal?.aborted) {
        const before =
          built.length > 0 ? `; ${built.map((entry) => entry.record.environment).join(', ')} packed before` : ''
        throw interrupted(
          signal,
          `while packing ${environment.name}; its partial artifact was removed${before}; the build cache's ` +
            'list of environments was not changed',
        )
      }

      if (!(error instanceof AssemblerError)) throw error
      failed.push({environment: environment.name, error: error.message})
    }
  }

  await cache.recordBuild(
    built.map((result) => result.record.environment),
    failed,
    {partial: options.environments !== undefined},
  )
  if (built.length === 0 && failed.length > 0) {
    throw new AssemblerError(`no environment could be built:\n${failed.map(describeFailedBuild).join('\n')}`, {
      details: {built: [], failed},
    })
  }

  return {built, failed}
}

/** The control repo's environment trees, as `hieracrypt plan` reads them (build.puppetcode's branches). */
export async function assembleEnvironments(runtime: Runtime, wanted?: string[]): Promise<AssembledEnvironment[]> {
  if (!runtime.settings.build.puppetcode) {
    throw new SettingsError(
      `build.puppetcode is not set in ${settingsSource(runtime.settings)}: the URL of your Puppet control repo`,
    )
  }

  for (const name of wanted ?? []) {
    if (!/^[\w.-]+$/.test(name)) throw new UsageError(`not a branch or environment name: ${name}`)
  }

  const {assembled} = await assemble(runtime, {environments: wanted})
  const failed = assembled.filter((environment) => 'error' in environment)
  if (failed.length > 0)
    throw new AssemblerError(failed.map((environment) => `${environment.name}: ${environment.error}`).join('\n'))
  return assembled as AssembledEnvironment[]
}

/** Runs the configured assembler: the environment trees (or each one's failure), and the tool versions it used. */
async function assemble(
  runtime: Runtime,
  options: {environments?: string[]; signal?: AbortSignal; source?: SourceSnapshot & {cacheDir: string; dir: string}},
) {
  const {settings} = runtime
  const {signal, source} = options
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
    throw assemblerFailure(error, assemblerName)
  })
  const origin = source ? `the working tree ${source.dir}` : redactUrl(settings.build.puppetcode ?? '')
  runtime.log.info(
    `Assembling ${options.environments?.join(', ') || 'all branches'} of ${origin} with ${assemblerName}`,
  )
  const assembled = await assembler.assemble({environments: options.environments, signal}).catch((error) => {
    if (signal?.aborted)
      throw interrupted(signal, `while ${assemblerName} assembled the control repo; nothing was packed`)
    throw assemblerFailure(error, assemblerName)
  })
  const tools: Record<string, string> = {
    node: process.versions.node,
    pupistry: runtime.version,
    ...(await assembler.versions?.().catch(() => ({}))),
  }
  return {assembled, assemblerName, tools}
}

function interrupted(signal: AbortSignal, what: string): StoppedError {
  const cause = signal.reason instanceof Error ? signal.reason.message : 'interrupted'
  return new StoppedError(`${cause}: build stopped ${what}`)
}

/** A permission error stays as it is, so the command names the path and its setting (general.app_cache). */
function assemblerFailure(error: unknown, assembler: string): Error {
  return isPermissionDenied(error)
    ? (error as Error)
    : fromProviderError(error, `assembler ${assembler}`, AssemblerError)
}

/** The exit-19 error for a build where some environments failed; its details list both sides for `--json`. */
export function partialBuildError(outcome: BuildOutcome, summary: unknown): PartialBuildError {
  const {built, failed} = outcome
  return new PartialBuildError(
    `${failed.length} of ${built.length + failed.length} environments failed to build; ` +
      `the other ${built.length} were packed:\n${failed.map(describeFailedBuild).join('\n')}`,
    {
      details: {built: summary, failed},
      hint: '`pupistry push` publishes only what built; fix the branches named above and build again',
    },
  )
}

/** One line per failed environment: its name, then the assembler's message (naming the branch and Puppetfile line). */
export function describeFailedBuild(failure: FailedBuild): string {
  return `${failure.environment}: ${failure.error}`
}

function failedBuild(environment: FailedEnvironment): FailedBuild {
  return {
    environment: environment.name,
    error: environment.error,
    ...(environment.branch === undefined ? {} : {branch: environment.branch}),
    ...(environment.puppetfileLine === undefined ? {} : {puppetfileLine: environment.puppetfileLine}),
  }
}

async function packEnvironment(
  runtime: Runtime,
  cache: BuildCache,
  environment: AssembledEnvironment,
  meta: {assembler: string; tools: Record<string, string>; signal?: AbortSignal},
): Promise<BuiltEnvironment> {
  const dir = await cache.makeDir(environment.name)
  const temp = path.join(dir, `.building-${process.pid}.tar.gz`)
  const selection = runtime.settings.build.hieracrypt
    ? planEnvironment(environment.path, environment.name, publicGlobs(runtime.settings.build.hieracrypt_public))
    : undefined
  runtime.log.progress(`Packing ${environment.name}`)
  let packed
  try {
    packed = await packTree(environment.path, temp, {
      // The artifact leaves out the protected files and the registry (node names have no place in the store).
      exclude: selection && [REGISTRY_DIR, ...selection.protected],
      signal: meta.signal,
      startMeter: (total) => runtime.log.meter(`Packing ${environment.name}`, total),
    })
  } catch (error) {
    await rm(temp, {force: true})
    if (meta.signal?.aborted) throw error
    throw new AssemblerError(`cannot pack environment ${environment.name}: ${(error as Error).message}`)
  }

  await chmod(temp, CACHE_FILE_MODE)
  await rename(temp, cache.artifactPath(environment.name, packed.sha256))
  const previous = await cache.read(environment.name)
  // The readers' keys are their report keys too: `fleet` reads them from here.
  if (selection) await writeReaders(dir, readRegistry(environment.path).members, CACHE_FILE_MODE)
  const sealed = selection
    ? await sealEnvironment(runtime, {
        cacheDir: dir,
        modes: {dir: CACHE_DIR_MODE, file: CACHE_FILE_MODE},
        root: environment.path,
        selection,
        version: packed.sha256,
      })
    : undefined
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
      user: currentUserName(),
    },
    built: new Date().toISOString(),
    environment: environment.name,
    ...(sealed ? {sealed: {index: sealed.index}} : {}),
    version: packed.sha256,
  }
  const unchanged =
    previous?.version === record.version && previous.sealed?.index.sha256 === record.sealed?.index.sha256
  // An unchanged build keeps its record, so its build time says when the content was made.
  if (!unchanged) await cache.write(record)
  await cache.remember(unchanged && previous ? previous : record)
  await cache.prune(environment.name, record.version)
  return {
    previous: previous?.version,
    record: unchanged && previous ? previous : record,
    sealed,
    skipped: packed.skipped,
    unchanged,
  }
}

/** What sealing needs before anything is assembled: signed bundles, and a warning when every build publishes. */
function checkSealingSettings(runtime: Runtime): void {
  const {settings} = runtime
  if (settings.general.gpg_disable) {
    throw new SettingsError(
      `build.hieracrypt and general.gpg_disable are both true in ${settingsSource(settings)}: sealed hiera ` +
        'data must be signed, or a writer to the store could hand nodes data of its choosing',
      {hint: 'configure a signing key (`pupistry keys generate`) and set gpg_disable: false'},
    )
  }

  if (!settings.build.hieracrypt_mac_key_file) {
    runtime.log.warn(
      'build.hieracrypt_mac_key_file is not set: encryption is randomised, so every build re-encrypts and ' +
        'every push publishes new sealed data (`pupistry keys generate --mac-key` makes the key)',
    )
  }
}
