import {randomBytes} from 'node:crypto'
import {lstat, mkdir, readdir, readlink, rename, rm, stat, symlink, utimes} from 'node:fs/promises'
import path from 'node:path'

/**
 * Releases live beside Puppet's environment path:
 *
 *   <releases>/<env>/<version>/          complete, unpacked releases
 *   <releases>/<env>/.staging-*          work in progress (removed on the next run)
 *   <puppetcode>/<env> -> <releases>/<env>/<version>
 *
 * A release directory appears only by renaming a completely unpacked
 * staging directory, and the environment link is replaced by renaming a new
 * link over it, so at every instant Puppet sees one complete release.
 */
export class Releases {
  constructor(
    private readonly root: string,
    private readonly puppetcode: string,
  ) {}

  dirOf(environment: string, version: string): string {
    return path.join(this.root, environment, version)
  }

  linkOf(environment: string): string {
    return path.join(this.puppetcode, environment)
  }

  async exists(environment: string, version: string): Promise<boolean> {
    return (await stat(this.dirOf(environment, version)).catch(() => undefined))?.isDirectory() ?? false
  }

  /** The version the environment link points at, if it is one of ours. */
  async active(environment: string): Promise<string | undefined> {
    const target = await readlink(this.linkOf(environment)).catch(() => undefined)
    if (!target) return undefined
    const resolved = path.resolve(path.dirname(this.linkOf(environment)), target)
    return path.dirname(resolved) === path.join(this.root, environment) ? path.basename(resolved) : undefined
  }

  /** A fresh, private staging directory (and the folder it lives in). */
  async staging(environment: string, what: 'staging' | 'download'): Promise<string> {
    const dir = path.join(this.root, environment)
    await mkdir(dir, {mode: 0o755, recursive: true})
    return path.join(dir, `.${what}-${process.pid}-${randomBytes(4).toString('hex')}`)
  }

  /** Removes what interrupted runs left behind. */
  async cleanLeftovers(environment: string): Promise<void> {
    const dir = path.join(this.root, environment)
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('.staging-') || name.startsWith('.download-')) await rm(path.join(dir, name), {force: true, recursive: true})
    }

    for (const name of await readdir(this.puppetcode).catch(() => [] as string[])) {
      if (name.startsWith(`.${environment}.pupistry-`)) await rm(path.join(this.puppetcode, name), {force: true})
    }
  }

  /** Makes a completely unpacked staging directory a release. */
  async commit(staging: string, environment: string, version: string): Promise<void> {
    const target = this.dirOf(environment, version)
    await rm(target, {force: true, recursive: true})
    await rename(staging, target)
  }

  /** Points the environment at a release, atomically. */
  async activate(environment: string, version: string): Promise<void> {
    await mkdir(this.puppetcode, {recursive: true})
    const link = this.linkOf(environment)
    const temp = path.join(this.puppetcode, `.${environment}.pupistry-${randomBytes(4).toString('hex')}`)
    await symlink(this.dirOf(environment, version), temp)
    const current = await lstat(link).catch(() => undefined)
    if (current?.isDirectory()) {
      // Code deployed by other means (the Ruby tool unpacked in place): keep it aside, once.
      await rename(link, `${link}.pupistry-previous-${Date.now()}`)
    }

    await rename(temp, link)
    const now = new Date()
    await utimes(this.dirOf(environment, version), now, now)
  }

  /** Keeps the active release and the newest others, up to `keep` in all. */
  async prune(environment: string, keep: number): Promise<string[]> {
    const dir = path.join(this.root, environment)
    const active = await this.active(environment)
    const releases: Array<{name: string; time: number}> = []
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith('.')) continue
      const info = await stat(path.join(dir, name)).catch(() => undefined)
      if (info?.isDirectory()) releases.push({name, time: info.mtimeMs})
    }

    releases.sort((a, b) => b.time - a.time)
    const kept = new Set([active, ...releases.map((release) => release.name)].filter(Boolean).slice(0, Math.max(keep, 1)))
    const removed: string[] = []
    for (const release of releases) {
      if (!kept.has(release.name)) {
        await rm(path.join(dir, release.name), {force: true, recursive: true})
        removed.push(release.name)
      }
    }

    return removed
  }
}
