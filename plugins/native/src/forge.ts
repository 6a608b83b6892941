import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import {mkdir, mkdtemp, readFile, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'

import {AssemblyFailure, failure, shown} from './failure.js'

/** Forge modules are small; a release larger than this is refused rather than filling the disk. */
const MAX_TARBALL = 512 * 1024 * 1024
const TIMEOUT_MS = 120_000
const MAX_REDIRECTS = 5

interface ReleaseInfo {
  file_uri?: string
  file_sha256?: string
}

/**
 * The Forge API (v3) as r10k uses it: `:latest` from the module's current
 * release, tarballs from the release's `file_uri`, checked against the
 * release's published SHA-256 and cached by version. Requests go through
 * Node's own http client with kept-alive connections: fetch() costs more to
 * load than a whole build of cached modules, and a new connection a request.
 */
export class Forge {
  private readonly latestOf = new Map<string, Promise<string>>()
  private readonly tarballs = new Map<string, Promise<string>>()
  private readonly agents = {'http:': new http.Agent({keepAlive: true}), 'https:': new https.Agent({keepAlive: true})}

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

  /** Closes the kept-alive connections. */
  close(): void {
    this.agents['http:'].destroy()
    this.agents['https:'].destroy()
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
    await mkdir(dir, {recursive: true})
    const hash = createHash('sha256')
    let size = 0
    try {
      await pipeline(
        response,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            size += chunk.length
            if (size > MAX_TARBALL)
              throw failure('assembler', `the tarball of ${release} is larger than ${MAX_TARBALL} bytes`)
            hash.update(chunk)
            yield chunk
          }
        },
        createWriteStream(`${file}.part`),
      )
    } catch (error) {
      // Nothing of a failed download is kept: the release's directory holds only verified tarballs.
      await rm(dir, {force: true, recursive: true})
      if (error instanceof AssemblyFailure) throw error
      throw failure('assembler', `cannot download ${shown(url.href)}: ${(error as Error).message}`, error)
    }

    const actual = hash.digest('hex')
    if (actual !== expected.toLowerCase()) {
      await rm(dir, {force: true, recursive: true})
      throw failure(
        'assembler',
        `the tarball of ${release} from ${shown(url.href)} has SHA-256 ${actual}, but the Forge publishes ` +
          `${expected.toLowerCase()}: refusing it`,
      )
    }

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
      const chunks: Buffer[] = []
      for await (const chunk of response) chunks.push(chunk as Buffer)
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T
    } catch (error) {
      throw failure('assembler', `the Forge at ${shown(this.baseurl)} answered nonsense for ${what}`, error)
    }
  }

  /** A successful response (redirects followed), its body not read yet. */
  private async get(url: URL, what: string, redirects = 0): Promise<http.IncomingMessage> {
    const response = await this.request(url).catch((error: Error) => {
      throw failure(
        'assembler',
        `cannot reach the Forge at ${shown(this.baseurl)} for ${what}: ${error.message}`,
        error,
      )
    })
    const status = response.statusCode ?? 0
    if (status >= 300 && status < 400 && response.headers.location && redirects < MAX_REDIRECTS) {
      response.resume()
      return this.get(new URL(response.headers.location, url), what, redirects + 1)
    }

    if (status >= 200 && status < 300) return response
    response.resume()
    if (status === 404) throw failure('assembler', `${what} does not exist on ${shown(this.baseurl)}`)
    throw failure('assembler', `the Forge at ${shown(this.baseurl)} answered ${status} for ${what}`)
  }

  private request(url: URL): Promise<http.IncomingMessage> {
    const protocol = url.protocol
    if (protocol !== 'http:' && protocol !== 'https:')
      return Promise.reject(new Error(`${protocol} is not http or https`))
    const client = protocol === 'https:' ? https : http
    return new Promise((resolve, reject) => {
      const request = client.get(url, {agent: this.agents[protocol], headers: {'User-Agent': 'pupistry-native'}})
      request.setTimeout(TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)))
      request.on('response', (response) => {
        response.setTimeout(TIMEOUT_MS, () => response.destroy(new Error(`stalled for ${TIMEOUT_MS / 1000} s`)))
        resolve(response)
      })
      request.on('error', reject)
    })
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
 * Synchronous: node-tar's async extraction costs a thread-pool round trip
 * per file, several times the work on a tree of small files.
 */
async function unpack(tarball: string, dest: string, release: string, warn: (message: string) => void): Promise<void> {
  const {x} = await import('tar')
  const temp = await mkdtemp(`${dest}.unpack-`)
  const leftOut: string[] = []
  const unsafe: string[] = []
  const metadata: string[] = []
  try {
    x({
      cwd: temp,
      file: tarball,
      filter(entryPath, entry) {
        const type = 'type' in entry ? entry.type : 'File'
        const parts = entryPath.split('/')
        if (entryPath.startsWith('/') || parts.includes('..')) {
          unsafe.push(entryPath)
          return false
        }

        if (type === 'Directory') return true
        if (type === 'File' || type === 'OldFile' || type === 'ContiguousFile') {
          if (parts.at(-1) === 'metadata.json')
            metadata.push(parts.filter((part) => part !== '' && part !== '.').join('/'))
          return true
        }

        leftOut.push(entryPath)
        return false
      },
      // Owners and times are left out: the artifact normalises both, and setting them costs two calls a file.
      noMtime: true,
      preserveOwner: false,
      strict: true,
      sync: true,
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
    // r10k takes the shortest path; ties go to the first by name, as its sorted glob lists them.
    const shallowest = metadata.sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0))[0]
    if (!shallowest) throw failure('assembler', `the tarball of ${release} has no metadata.json`)
    await rename(path.join(temp, path.dirname(shallowest)), dest)
  } finally {
    await rm(temp, {force: true, recursive: true})
  }
}
