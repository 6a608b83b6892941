import {mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {buildCache} from '../config/paths.js'
import type {Settings} from '../config/settings.js'
import {NotFoundError, UsageError} from '../errors.js'
import type {BuildRecord} from '../manifest/manifest.js'

/**
 * The local record of builds: per environment the newest artifact and its
 * record, plus the list of environments the last build produced.
 *
 *   <app_cache>/build/index.json
 *   <app_cache>/build/<env>/build.json
 *   <app_cache>/build/<env>/<sha256>.tar.gz
 */
export class BuildCache {
  readonly root: string

  constructor(settings: Settings) {
    this.root = buildCache(settings)
  }

  dirOf(environment: string): string {
    return path.join(this.root, environment)
  }

  artifactPath(environment: string, sha256: string): string {
    return path.join(this.dirOf(environment), `${sha256}.tar.gz`)
  }

  async environments(): Promise<string[]> {
    try {
      return (JSON.parse(await readFile(path.join(this.root, 'index.json'), 'utf8')) as {environments: string[]}).environments
    } catch {
      return []
    }
  }

  /** The environments a command works on: those asked for, or every one of the last build. */
  async select(wanted?: string[]): Promise<string[]> {
    const built = await this.environments()
    if (built.length === 0) throw new NotFoundError('nothing has been built yet', {hint: 'run `pupistry build` first'})
    for (const environment of wanted ?? []) {
      if (!built.includes(environment)) throw new UsageError(`environment ${environment} is not in the last build (built: ${built.join(', ')})`)
    }

    return wanted ?? built
  }

  async setEnvironments(environments: string[]): Promise<void> {
    await mkdir(this.root, {recursive: true})
    await writeAtomically(path.join(this.root, 'index.json'), `${JSON.stringify({environments: [...environments].sort()}, null, 2)}\n`)
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
    if (!record) throw new NotFoundError(`environment ${environment} has not been built (${this.dirOf(environment)})`, {hint: 'run `pupistry build` first'})
    return record
  }

  async write(record: BuildRecord): Promise<void> {
    await writeAtomically(path.join(this.dirOf(record.environment), 'build.json'), `${JSON.stringify(record, null, 2)}\n`)
  }

  /** Keeps the current artifact and the one before it; older ones are only a local cache. */
  async prune(environment: string, keep: string[]): Promise<void> {
    const dir = this.dirOf(environment)
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.endsWith('.tar.gz') && !keep.some((sha) => name === `${sha}.tar.gz`)) await rm(path.join(dir, name), {force: true})
    }
  }
}

export async function writeAtomically(file: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  const temp = `${file}.tmp-${process.pid}`
  await writeFile(temp, content, {mode})
  await rename(temp, file)
}
