import {lstat, mkdir, readdir, readlink, rename, rm, stat, symlink, utimes} from 'node:fs/promises'
import path from 'node:path'

import {pausePoint} from './pause.js'
import {randomHex} from '../util/lazy-node.js'

export interface ActiveRelease {
  /** The release directory's name: the version, or version.suffix for a forced re-install. */
  dir: string
  version: string
}

export interface KeptRelease extends ActiveRelease {
  /** When it was last activated (the directory's mtime). */
  activated: Date
}

/** A --noop run's scratch environment path beside the releases. */
export const NOOP_PREFIX = '.noop-'

const LEFTOVER_PREFIXES = ['.staging-', '.download-', '.trash-', NOOP_PREFIX]

/** A release directory is named after its version, with a suffix when the same version was installed again. */
export function versionOfDir(dir: string): string {
  return dir.split('.')[0]
}

/**
 * Releases live beside Puppet's environment path:
 *
 *   <releases>/<env>/<version>[.<suffix>]/   complete, unpacked releases
 *   <releases>/<env>/.staging-*, .download-*  work in progress (removed on the next run)
 *   <releases>/<env>/.trash-*                   releases being removed (idem)
 *   <releases>/<env>/.noop-<id>/<env> -> <version>  a --noop run's own environment path (idem)
 *   <puppetcode>/<env> -> <releases>/<env>/<version>
 *
 * A release directory appears only by renaming a completely unpacked staging
 * directory, is never replaced while it exists, and the environment link is
 * switched by renaming a new link over it: at every instant Puppet sees one
 * complete release.
 */
export class Releases {
  constructor(
    private readonly root: string,
    private readonly puppetcode: string,
  ) {}

  pathOf(environment: string, dir: string): string {
    return path.join(this.root, environment, dir)
  }

  linkOf(environment: string): string {
    return path.join(this.puppetcode, environment)
  }

  /** The release the environment link points at, if it is one of ours. */
  async active(environment: string): Promise<ActiveRelease | undefined> {
    const target = await readlink(this.linkOf(environment)).catch(() => undefined)
    if (!target) return undefined
    const resolved = path.resolve(path.dirname(this.linkOf(environment)), target)
    if (path.dirname(resolved) !== path.join(this.root, environment)) return undefined
    if (!(await stat(resolved).catch(() => undefined))?.isDirectory()) return undefined
    const dir = path.basename(resolved)
    return {dir, version: versionOfDir(dir)}
  }

  /** A complete release of this version, preferring the active one. */
  async find(environment: string, version: string): Promise<string | undefined> {
    const active = await this.active(environment)
    if (active?.version === version) return active.dir
    const names = await readdir(path.join(this.root, environment)).catch(() => [] as string[])
    return names.find((name) => !name.startsWith('.') && versionOfDir(name) === version)
  }

  /** A fresh path for work in progress. */
  async scratch(environment: string, what: 'staging' | 'download'): Promise<string> {
    const dir = path.join(this.root, environment)
    await mkdir(dir, {mode: 0o755, recursive: true})
    return path.join(dir, `.${what}-${process.pid}-${randomHex(4)}`)
  }

  /** Removes what interrupted runs left behind. */
  async cleanLeftovers(environment: string): Promise<void> {
    const dir = path.join(this.root, environment)
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (LEFTOVER_PREFIXES.some((prefix) => name.startsWith(prefix)))
        await rm(path.join(dir, name), {force: true, recursive: true})
    }

    for (const name of await readdir(this.puppetcode).catch(() => [] as string[])) {
      if (name.startsWith(`.${environment}.pupistry-`)) await rm(path.join(this.puppetcode, name), {force: true})
    }
  }

  /** Makes a completely unpacked staging directory a release; returns its directory name. */
  async commit(staging: string, environment: string, version: string): Promise<string> {
    const taken = (await readdir(path.join(this.root, environment)).catch(() => [] as string[])).includes(version)
    const dir = taken ? `${version}.${Date.now().toString(36)}${randomHex(2)}` : version
    await rename(staging, this.pathOf(environment, dir))
    return dir
  }

  /** Points the environment at a release, atomically. */
  async activate(environment: string, dir: string): Promise<void> {
    await mkdir(this.puppetcode, {recursive: true})
    const link = this.linkOf(environment)
    const temp = path.join(this.puppetcode, `.${environment}.pupistry-${randomHex(4)}`)
    await symlink(this.pathOf(environment, dir), temp)
    pausePoint('link')
    const current = await lstat(link).catch(() => undefined)
    if (current?.isDirectory()) {
      // Code deployed by other means (the Ruby tool unpacked in place): keep it aside, once.
      await rename(link, `${link}.pupistry-previous-${Date.now()}`)
    }

    await rename(temp, link)
    const now = new Date()
    await utimes(this.pathOf(environment, dir), now, now)
  }

  /** Complete releases on this node, most recently activated first. */
  async kept(environment: string): Promise<KeptRelease[]> {
    const dir = path.join(this.root, environment)
    const releases: KeptRelease[] = []
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('.')) continue
      const info = await stat(path.join(dir, name)).catch(() => undefined)
      if (info?.isDirectory()) releases.push({activated: info.mtime, dir: name, version: versionOfDir(name)})
    }

    return releases.sort((a, b) => b.activated.getTime() - a.activated.getTime())
  }

  /**
   * Keeps the active release and the most recently activated others: `keep`
   * in all. A release is first renamed out of the way, then deleted, so an
   * interrupted removal never leaves a half-deleted directory under a
   * version's name (it would be reused as a complete release).
   */
  async prune(environment: string, keep: number): Promise<string[]> {
    const active = await this.active(environment)
    const releases = await this.kept(environment)
    const ordered = [...new Set([...(active ? [active.dir] : []), ...releases.map((release) => release.dir)])]
    const kept = new Set(ordered.slice(0, Math.max(keep, 1)))
    const removed: string[] = []
    for (const release of releases) {
      if (kept.has(release.dir)) continue
      const trash = path.join(this.root, environment, `.trash-${process.pid}-${randomHex(4)}`)
      await rename(this.pathOf(environment, release.dir), trash)
      pausePoint('prune')
      await rm(trash, {force: true, recursive: true})
      removed.push(release.dir)
    }

    return removed
  }
}
