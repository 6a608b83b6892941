import {chmod, mkdir, readdir, readFile, rm, stat, utimes} from 'node:fs/promises'
import path from 'node:path'

import {buildCache} from '../config/paths.js'
import type {Settings} from '../config/settings.js'
import {NotFoundError, UsageError} from '../errors.js'
import type {BuildRecord} from '../format/manifest.js'
import {writeAtomically} from '../util/atomic-write.js'
import {checkVersionPrefix, shortVersion} from '../util/version.js'

/** Builds kept per environment, the newest included. */
export const KEPT_BUILDS = 5

/**
 * Artifacts carry hiera data: as in the file store, the owner and its group
 * may read the cache, other local users not. Set explicitly, whatever the
 * umask, since a umask of 022 would make them world-readable.
 */
export const CACHE_FILE_MODE = 0o640
export const CACHE_DIR_MODE = 0o750

/** An environment the last build could not make, as the build cache remembers it for `push`. */
export interface FailedBuild {
  environment: string
  branch?: string
  error: string
  puppetfileLine?: number
}

function names(failed: FailedBuild[]): string {
  return failed.map((entry) => entry.environment).join(', ')
}

interface BuildIndex {
  environments: string[]
  failed: FailedBuild[]
}

const SHA_FILE = /^([0-9a-f]{64})\.(tar\.gz|json)$/

/**
 * The local record of builds: per environment the newest artifact and its
 * record, the few builds before it (for `push --version`, a signed
 * rollback), plus the list of environments the last build produced.
 *
 *   <app_cache>/build/index.json                environments of the last builds, and those that failed
 *   <app_cache>/build/<env>/build.json          the newest build
 *   <app_cache>/build/<env>/<sha256>.tar.gz     artifacts of the kept builds
 *   <app_cache>/build/<env>/<sha256>.json       their records
 */
export class BuildCache {
  readonly root: string

  constructor(settings: Settings) {
    this.root = buildCache(settings)
  }

  dirOf(environment: string): string {
    return path.join(this.root, environment)
  }

  /** The environment's directory, made if need be, with the cache's modes (tightened on caches made before). */
  async makeDir(environment: string): Promise<string> {
    const dir = this.dirOf(environment)
    await mkdir(dir, {mode: CACHE_DIR_MODE, recursive: true})
    await chmod(this.root, CACHE_DIR_MODE)
    await chmod(dir, CACHE_DIR_MODE)
    return dir
  }

  artifactPath(environment: string, sha256: string): string {
    return path.join(this.dirOf(environment), `${sha256}.tar.gz`)
  }

  async environments(): Promise<string[]> {
    return (await this.index()).environments
  }

  /** Environments the last builds could not make, with why; `push` names them and leaves them out. */
  async failures(): Promise<FailedBuild[]> {
    return (await this.index()).failed
  }

  private async index(): Promise<BuildIndex> {
    try {
      const index = JSON.parse(await readFile(path.join(this.root, 'index.json'), 'utf8')) as Partial<BuildIndex>
      return {environments: index.environments ?? [], failed: index.failed ?? []}
    } catch {
      return {environments: [], failed: []}
    }
  }

  /** The environments a command works on: those asked for, or every one of the last build. */
  async select(wanted?: string[]): Promise<string[]> {
    const {environments: built, failed} = await this.index()
    if (built.length === 0) {
      const why =
        failed.length === 0
          ? 'nothing has been built yet'
          : `the last build made no environment (failed: ${names(failed)})`
      throw new NotFoundError(why, {hint: 'run `pupistry build` first'})
    }

    for (const environment of wanted ?? []) {
      const failure = failed.find((entry) => entry.environment === environment)
      if (failure)
        throw new UsageError(`environment ${environment} failed in the last build: ${failure.error}`, {
          hint: 'fix it and run `pupistry build` again; an earlier build stays available with --version',
        })
      if (!built.includes(environment))
        throw new UsageError(`environment ${environment} is not in the last build (built: ${built.join(', ')})`)
    }

    return wanted ?? built
  }

  /**
   * Records what a build made and what failed. A build of named environments
   * (`partial`) updates only those; a full build replaces the list. A failed
   * environment leaves the list even when an earlier build of it is kept, so
   * `push` never republishes stale code for a branch that no longer builds.
   */
  async recordBuild(built: string[], failed: FailedBuild[], options: {partial: boolean}): Promise<void> {
    const previous = options.partial ? await this.index() : {environments: [], failed: []}
    const touched = new Set([...built, ...failed.map((entry) => entry.environment)])
    const index: BuildIndex = {
      environments: [...new Set([...previous.environments.filter((name) => !touched.has(name)), ...built])].sort(),
      failed: [...previous.failed.filter((entry) => !touched.has(entry.environment)), ...failed].sort((a, b) =>
        a.environment.localeCompare(b.environment),
      ),
    }
    await mkdir(this.root, {mode: CACHE_DIR_MODE, recursive: true})
    await chmod(this.root, CACHE_DIR_MODE)
    await writeAtomically(path.join(this.root, 'index.json'), `${JSON.stringify(index, null, 2)}\n`, {
      mode: CACHE_FILE_MODE,
    })
  }

  async read(environment: string): Promise<BuildRecord | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.dirOf(environment), 'build.json'), 'utf8')) as BuildRecord
    } catch {
      return undefined
    }
  }

  async require(environment: string): Promise<BuildRecord> {
    const record = await this.read(environment)
    if (!record)
      throw new NotFoundError(`environment ${environment} has not been built (${this.dirOf(environment)})`, {
        hint: 'run `pupistry build` first',
      })
    return record
  }

  async write(record: BuildRecord): Promise<void> {
    await writeAtomically(
      path.join(await this.makeDir(record.environment), 'build.json'),
      `${JSON.stringify(record, null, 2)}\n`,
      {mode: CACHE_FILE_MODE},
    )
  }

  /** Keeps a build's record beside its artifact; a build made again counts as the newest. */
  async remember(record: BuildRecord): Promise<void> {
    const file = path.join(this.dirOf(record.environment), `${record.version}.json`)
    if ((await stat(file).catch(() => undefined))?.isFile()) {
      const now = new Date()
      await utimes(file, now, now)
    } else {
      await writeAtomically(file, `${JSON.stringify(record, null, 2)}\n`, {mode: CACHE_FILE_MODE})
    }
  }

  /** Records of the kept builds, newest first. */
  async builds(environment: string): Promise<BuildRecord[]> {
    const dir = this.dirOf(environment)
    const found: Array<{record: BuildRecord; time: number}> = []
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (SHA_FILE.exec(name)?.[2] !== 'json') continue
      try {
        const file = path.join(dir, name)
        found.push({record: JSON.parse(await readFile(file, 'utf8')) as BuildRecord, time: (await stat(file)).mtimeMs})
      } catch {
        // Half-written or removed meanwhile: not a kept build.
      }
    }

    return found.sort((a, b) => b.time - a.time).map((entry) => entry.record)
  }

  /** A kept build of the environment whose version starts with `prefix`. */
  async findVersion(environment: string, prefix: string): Promise<BuildRecord> {
    checkVersionPrefix(prefix)
    const builds = await this.builds(environment)
    const matches = builds.filter((record) => record.version.startsWith(prefix))
    if (matches.length > 1)
      throw new UsageError(
        `version ${prefix} of ${environment} is ambiguous: ` +
          `${matches.map((record) => shortVersion(record.version)).join(', ')}; give more digits`,
      )
    if (matches.length === 0) {
      throw new NotFoundError(
        `no kept build of ${environment} has version ${prefix} (kept: ` +
          `${builds.map((record) => shortVersion(record.version)).join(', ') || 'none'})`,
        {
          hint: `the build cache keeps the last ${KEPT_BUILDS} builds; build the old commit again (the same tree gives the same version)`,
        },
      )
    }

    return matches[0]
  }

  /** Keeps the newest KEPT_BUILDS builds (and always `current`); older artifacts and records are only a local cache. */
  async prune(environment: string, current: string): Promise<void> {
    const dir = this.dirOf(environment)
    const kept = new Set([
      current,
      ...(await this.builds(environment)).slice(0, KEPT_BUILDS).map((record) => record.version),
    ])
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const sha = SHA_FILE.exec(name)?.[1]
      if (sha && !kept.has(sha)) await rm(path.join(dir, name), {force: true})
    }
  }
}
