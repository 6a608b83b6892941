import {randomBytes} from 'node:crypto'
import {chmod, mkdir, readdir, readlink, rename, rm, statfs, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {SealedDataError} from '../errors.js'

/** statfs types of memory filesystems (linux/magic.h): sealed data never touches a disk on them. */
const MEMORY_FILESYSTEMS = new Set([0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */])

const CURRENT = 'current'

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
