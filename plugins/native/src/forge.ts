import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {failure, shown} from './failure.js'

/** Forge modules are small; a release larger than this is refused rather than filling the disk. */
const MAX_TARBALL = 512 * 1024 * 1024
const TIMEOUT_MS = 120_000

interface ReleaseInfo {
  file_uri?: string
  file_sha256?: string
}

/**
 * The Forge API (v3) as r10k uses it: `:latest` from the module's current
 * release, tarballs from the release's `file_uri`, checked against the
 * release's published SHA-256 and cached by version.
 */
export class Forge {
  private readonly latestOf = new Map<string, Promise<string>>()
  private readonly tarballs = new Map<string, Promise<string>>()

  constructor(
    private readonly baseurl: string,
    private readonly cacheDir: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** The newest release of `author-name`, asked once per build. */
  latest(slug: string): Promise<string> {
    let found = this.latestOf.get(slug)
    if (!found) {
      found = this.json<{current_release?: {version?: string}}>(`v3/modules/${slug}`, `the module ${slug}`).then(
        (module) => {
          const version = module.current_release?.version
          if (typeof version !== 'string')
            throw failure('assembler', `the module ${slug} has no published release on ${shown(this.baseurl)}`)
          return version
        },
      )
      this.latestOf.set(slug, found)
    }

    return found
  }

  /** Writes the module release into `dest` (which must not exist yet). */
  async install(slug: string, version: string, dest: string): Promise<void> {
    const key = `${slug}-${version}`
    let tarball = this.tarballs.get(key)
    if (!tarball) {
      tarball = this.download(slug, version)
      this.tarballs.set(key, tarball)
    }

    await unpack(await tarball, dest, key, this.warn)
  }

  /** A verified tarball in the cache: reused when its hash still matches the one recorded when it was verified. */
  private async download(slug: string, version: string): Promise<string> {
    const release = `${slug}-${version}`
    const dir = path.join(this.cacheDir, release)
    const file = path.join(dir, `${release}.tar.gz`)
    const recorded = await readFile(path.join(dir, `${release}.sha256`), 'utf8').catch(() => undefined)
    if (recorded && (await sha256File(file).catch(() => undefined)) === recorded.trim()) return file

    const info = await this.json<ReleaseInfo>(`v3/releases/${release}`, `the release ${release}`)
    const expected = info.file_sha256
    if (typeof expected !== 'string' || !/^[0-9a-f]{64}$/i.test(expected)) {
      throw failure(
        'assembler',
        `the Forge at ${shown(this.baseurl)} publishes no SHA-256 for ${release}: refusing a module that cannot be verified`,
      )
    }

    if (typeof info.file_uri !== 'string')
      throw failure('assembler', `the Forge at ${shown(this.baseurl)} gives no file for ${release}`)
    const url = new URL(info.file_uri.replace(/^\//, ''), this.base())
    const response = await this.get(url, `the tarball of ${release}`)
    const body = Buffer.from(await response.arrayBuffer())
    if (body.length > MAX_TARBALL)
      throw failure('assembler', `the tarball of ${release} is larger than ${MAX_TARBALL} bytes`)
    const actual = createHash('sha256').update(body).digest('hex')
    if (actual !== expected.toLowerCase()) {
      throw failure(
        'assembler',
        `the tarball of ${release} from ${shown(url.href)} has SHA-256 ${actual}, but the Forge publishes ` +
          `${expected.toLowerCase()}: refusing it`,
      )
    }

    await mkdir(dir, {recursive: true})
    await writeFile(`${file}.part`, body)
    await rename(`${file}.part`, file)
    await writeFile(path.join(dir, `${release}.sha256`), actual)
    return file
  }

  private base(): URL {
    return new URL(this.baseurl.endsWith('/') ? this.baseurl : `${this.baseurl}/`)
  }

  private async json<T>(resource: string, what: string): Promise<T> {
    const response = await this.get(new URL(resource, this.base()), what)
    try {
      return (await response.json()) as T
    } catch (error) {
      throw failure('assembler', `the Forge at ${shown(this.baseurl)} answered nonsense for ${what}`, error)
    }
  }

  private async get(url: URL, what: string): Promise<Response> {
    let response: Response
    try {
      response = await fetch(url, {headers: {'User-Agent': 'pupistry-native'}, signal: AbortSignal.timeout(TIMEOUT_MS)})
    } catch (error) {
      throw failure(
        'assembler',
        `cannot reach the Forge at ${shown(this.baseurl)} for ${what}: ${(error as Error).message}`,
        error,
      )
    }

    if (response.status === 404) throw failure('assembler', `${what} does not exist on ${shown(this.baseurl)}`)
    if (!response.ok)
      throw failure('assembler', `the Forge at ${shown(this.baseurl)} answered ${response.status} for ${what}`)
    return response
  }
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Unpacks a release the way r10k's Forge unpacker does: regular files and
 * directories only (symlinks and other types are left out, with a warning),
 * and the module is the directory holding the shallowest metadata.json.
 */
async function unpack(tarball: string, dest: string, release: string, warn: (message: string) => void): Promise<void> {
  const {x} = await import('tar')
  const temp = await mkdtemp(`${dest}.unpack-`)
  const leftOut: string[] = []
  const unsafe: string[] = []
  try {
    await x({
      cwd: temp,
      file: tarball,
      filter(entryPath, entry) {
        const type = 'type' in entry ? entry.type : 'File'
        const parts = entryPath.split('/')
        if (entryPath.startsWith('/') || parts.includes('..')) {
          unsafe.push(entryPath)
          return false
        }

        if (type === 'File' || type === 'OldFile' || type === 'ContiguousFile' || type === 'Directory') return true
        leftOut.push(entryPath)
        return false
      },
      strict: true,
    })
    if (unsafe.length > 0)
      throw failure(
        'assembler',
        `the tarball of ${release} has paths outside the module: ${unsafe.slice(0, 3).join(', ')}`,
      )
    if (leftOut.length > 0)
      warn(
        `${release}: symlinks and special files are not unpacked from Forge tarballs, as r10k does: ${leftOut.slice(0, 5).join(', ')}`,
      )
    const root = await shallowestMetadata(temp)
    if (!root) throw failure('assembler', `the tarball of ${release} has no metadata.json`)
    await rename(root, dest)
  } finally {
    await rm(temp, {force: true, recursive: true})
  }
}

/** The directory of the metadata.json with the shortest path (r10k sorts the paths by length). */
async function shallowestMetadata(dir: string): Promise<string | undefined> {
  const found = (await readdir(dir, {recursive: true, withFileTypes: true}))
    .filter((entry) => entry.isFile() && entry.name === 'metadata.json')
    .map((entry) => path.join(entry.parentPath ?? (entry as unknown as {path: string}).path, entry.name))
    .sort((a, b) => a.length - b.length)
  return found[0] ? path.dirname(found[0]) : undefined
}
