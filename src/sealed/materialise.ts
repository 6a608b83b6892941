import {randomBytes} from 'node:crypto'
import {chmod, mkdir, readdir, readlink, rename, rm, statfs, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {SealedDataError} from '../errors.js'

/** statfs types of memory filesystems (linux/magic.h): sealed data never touches a disk on them. */
const MEMORY_FILESYSTEMS = new Set([0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */])

const CURRENT = 'current'

/** A --noop run's scratch generation in the sealed dir: `.noop-<env>-<id>`, never an environment's name. */
export const PREVIEW_PREFIX = '.noop-'

/**
 * Where an environment's sealed files are, as Hiera reads them: a stable
 * path through the `current` link, whatever generation it names.
 */
export function materialisedPath(sealedDir: string, environment: string, relative: string): string {
  return path.join(sealedDir, environment, CURRENT, relative)
}

/**
 * Writes the files into a new generation (0700 directories, 0600 files)
 * and switches `<sealed_dir>/<env>/current` to it by renaming a new link
 * over the old one, like a release: Hiera sees the old set or the new one,
 * never half of one. Older generations are removed after the switch.
 */
export async function materialise(job: {
  sealedDir: string
  allowDisk: boolean
  environment: string
  files: Array<{path: string; content: Buffer}>
}): Promise<void> {
  await mkdir(job.sealedDir, {mode: 0o700, recursive: true})
  await checkMemoryFilesystem(job.sealedDir, job.allowDisk)
  const envDir = path.join(job.sealedDir, job.environment)
  await mkdir(envDir, {mode: 0o700, recursive: true})
  // Made before, or by someone else, with a looser mode: only root may even list what is sealed here.
  await chmod(job.sealedDir, 0o700)
  await chmod(envDir, 0o700)
  const generation = `gen-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  const genDir = path.join(envDir, generation)
  await mkdir(genDir, {mode: 0o700})
  for (const file of job.files) {
    const target = path.join(genDir, file.path)
    await mkdir(path.dirname(target), {mode: 0o700, recursive: true})
    await writeFile(target, file.content, {flag: 'wx', mode: 0o600})
  }

  const temp = path.join(envDir, `.link-${randomBytes(4).toString('hex')}`)
  await symlink(generation, temp)
  await rename(temp, path.join(envDir, CURRENT))
  for (const name of await readdir(envDir)) {
    if (name !== generation && name !== CURRENT) await rm(path.join(envDir, name), {force: true, recursive: true})
  }
}

async function checkMemoryFilesystem(dir: string, allowDisk: boolean): Promise<void> {
  if (allowDisk) return
  const {type} = await statfs(dir)
  if (!MEMORY_FILESYSTEMS.has(type)) {
    throw new SealedDataError(
      `agent.sealed_dir ${dir} is not on a memory filesystem (tmpfs or ramfs): sealed hiera data would be written to disk`,
      {
        hint: 'mount a tmpfs there, choose another agent.sealed_dir, or set agent.sealed_dir_on_disk: true to accept it',
      },
    )
  }
}

/**
 * Links each sealed path of a release to the materialised file, so Hiera
 * finds it where hiera.yaml says without any edit. A path the release
 * itself holds as a file is never replaced (it was checked before).
 */
export async function linkRelease(job: {
  releaseDir: string
  sealedDir: string
  environment: string
  paths: string[]
}): Promise<void> {
  for (const relative of job.paths) {
    const link = path.join(job.releaseDir, relative)
    const target = materialisedPath(job.sealedDir, job.environment, relative)
    if ((await readlink(link).catch(() => undefined)) === target) continue
    await mkdir(path.dirname(link), {mode: 0o755, recursive: true})
    const temp = `${link}.pupistry-${randomBytes(4).toString('hex')}`
    await symlink(target, temp)
    await rename(temp, link)
  }
}

/**
 * An environment directory for a --noop run: the release's entries as
 * links, except that each directory on the way to a sealed path is a real
 * directory, the sealed paths link to `links`' targets, and the release's
 * own links into the live sealed dir are left out (the candidate may no
 * longer read those files). The release itself is not changed.
 */
export async function overlayRelease(job: {
  releaseDir: string
  overlayDir: string
  sealedDir: string
  /** Relative sealed path → the file it shows. */
  links: Map<string, string>
}): Promise<void> {
  const dirs = new Set<string>()
  for (const relative of job.links.keys()) {
    for (let dir = path.posix.dirname(relative); dir !== '.'; dir = path.posix.dirname(dir)) dirs.add(dir)
  }

  const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`)
  const parentOf = (relative: string) => {
    const parent = path.posix.dirname(relative)
    return parent === '.' ? '' : parent
  }

  const mirror = async (relative: string): Promise<void> => {
    await mkdir(path.join(job.overlayDir, relative), {mode: 0o700, recursive: true})
    const entries = await readdir(path.join(job.releaseDir, relative), {withFileTypes: true}).catch(() => [])
    for (const entry of entries) {
      const child = join(relative, entry.name)
      const source = path.join(job.releaseDir, child)
      if (job.links.has(child)) continue
      if (dirs.has(child)) await mirror(child)
      else if (!entry.isSymbolicLink() || !insideDir(await readlink(source), job.sealedDir))
        await symlink(source, path.join(job.overlayDir, child))
    }

    const present = new Set(entries.map((entry) => entry.name))
    for (const dir of dirs) {
      if (parentOf(dir) === relative && !present.has(path.posix.basename(dir))) await mirror(dir)
    }

    for (const [child, target] of job.links) {
      if (parentOf(child) === relative) await symlink(target, path.join(job.overlayDir, child))
    }
  }

  await mirror('')
}

/** Is a path the directory or inside it? */
export function insideDir(target: string, dir: string): boolean {
  return target === dir || target.startsWith(`${dir}${path.sep}`)
}
