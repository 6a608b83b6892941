import {constants, createWriteStream, type Stats} from 'node:fs'
import {link, mkdir, open, readdir, rename, stat, unlink} from 'node:fs/promises'
import path from 'node:path'
import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {fileURLToPath} from 'node:url'

import type {
  Exposure,
  GetOptions,
  GetResult,
  IncompleteWrite,
  ObjectInfo,
  ProviderError,
  ProviderErrorReason,
  PutOptions,
  Store,
} from '../contracts.js'
import {byCodeUnit} from '../util/compare.js'
import {randomHex} from '../util/lazy-node.js'

const TEMP_PREFIX = '.pupistry-tmp-'

const REASONS: Record<string, ProviderErrorReason> = {
  EACCES: 'denied',
  EEXIST: 'conflict',
  EPERM: 'denied',
  EROFS: 'denied',
}

function failure(message: string, cause?: unknown, reason?: ProviderErrorReason): ProviderError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  return Object.assign(new Error(message, {cause}), {
    kind: 'store' as const,
    reason: reason ?? (code ? REASONS[code] : undefined),
  })
}

/**
 * The embedded store: objects are files below a directory, on a local disk or
 * a shared mount. Every write goes to a temporary file that is renamed (or,
 * create-only, hard-linked) into place, so readers never see half an object.
 */
export class FileStore implements Store {
  readonly location: string
  readonly prefix = ''
  private readonly root: string

  constructor(url: URL) {
    this.root = fileURLToPath(url)
    this.location = url.href
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const file = this.pathOf(key)
    await this.checkRoot()
    let handle
    try {
      // Anyone who can write the store could put a FIFO or a link to a device there: an open must never wait
      // (a FIFO blocks a thread of the pool for good) nor follow a link to /dev, so it is non-blocking and no-follow.
      handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return undefined
      // A socket cannot be opened at all.
      if (code === 'ENXIO')
        throw failure(
          `refusing ${key} in ${this.location}: it is a socket or a device, not a regular file`,
          error,
          'invalid',
        )
      if (code === 'ELOOP')
        throw failure(
          `refusing ${key} in ${this.location}: it is a symbolic link, and store objects must be regular files`,
          error,
          'invalid',
        )
      throw failure(`cannot read ${key} at ${file}: ${(error as Error).message}`, error)
    }

    const info = await handle.stat().catch(async (error: Error) => {
      await handle.close()
      throw failure(`cannot read ${key} at ${file}: ${error.message}`, error)
    })
    if (!info.isFile()) {
      await handle.close()
      throw failure(
        `refusing ${key} in ${this.location}: it is ${kindOf(info)}, not a regular file`,
        undefined,
        'invalid',
      )
    }

    const etag = tagOf(info)
    if (options.ifNoneMatch !== undefined && options.ifNoneMatch === etag) {
      await handle.close()
      return {notModified: true}
    }

    return {body: handle.createReadStream(), etag, size: info.size}
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    await this.checkRoot()
    try {
      const info = await stat(this.pathOf(key))
      return {etag: tagOf(info), key, size: info.size}
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw failure(`cannot read ${this.pathOf(key)}: ${(error as Error).message}`, error)
    }
  }

  async put(key: string, body: Readable | Uint8Array, options: PutOptions = {}): Promise<{etag: string}> {
    const file = this.pathOf(key)
    await this.checkRoot()
    const dir = path.dirname(file)
    const temp = path.join(dir, `${TEMP_PREFIX}${randomHex(8)}`)
    try {
      // Artifacts carry hiera data: the owner and its group may read them, other local users not.
      await mkdir(dir, {mode: 0o750, recursive: true})
      await writeDurably(temp, body, options.signal)
      if (options.createOnly) {
        // link() fails if the name exists: an atomic create-only publish.
        await link(temp, file)
        await unlink(temp)
      } else {
        await rename(temp, file)
      }

      await syncDir(dir)
      return {etag: tagOf(await stat(file))}
    } catch (error) {
      await unlink(temp).catch(() => {})
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw failure(`${file} already exists`, error)

      throw failure(`cannot write ${file}: ${(error as Error).message}`, error)
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = []
    for (const {info, key, name} of await this.files(prefix)) {
      if (!name.startsWith(TEMP_PREFIX)) found.push({etag: tagOf(info), key, modified: info.mtime, size: info.size})
    }

    return found.sort((a, b) => byCodeUnit(a.key, b.key))
  }

  /** Temporary files an interrupted or crashed write left (a push killed with SIGKILL, a power cut). */
  async incomplete(prefix: string): Promise<IncompleteWrite[]> {
    return (await this.files(prefix))
      .filter(({name}) => name.startsWith(TEMP_PREFIX))
      .map(({info, key}) => ({id: key, key, started: info.mtime}))
  }

  async discard(write: IncompleteWrite): Promise<void> {
    if (!path.basename(write.id).startsWith(TEMP_PREFIX)) throw failure(`${write.id} is not a temporary file of ours`)
    await unlink(this.pathOf(write.id)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw failure(`cannot delete ${this.pathOf(write.id)}: ${error.message}`, error)
    })
  }

  /** Every regular file below the prefix, with its key and stat. */
  private async files(prefix: string): Promise<Array<{info: Stats; key: string; name: string}>> {
    await this.checkRoot()
    const base = this.pathOf(prefix.replace(/\/+$/, '') || '.')
    const found: Array<{info: Stats; key: string; name: string}> = []
    const walk = async (dir: string): Promise<void> => {
      let entries
      try {
        entries = await readdir(dir, {withFileTypes: true})
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR')
          return
        throw failure(`cannot list ${dir}: ${(error as Error).message}`, error)
      }

      for (const entry of entries) {
        const full = path.join(dir, entry.name)
        if (entry.isDirectory()) await walk(full)
        else if (entry.isFile()) {
          const info = await stat(full).catch(() => undefined)
          const key = path.relative(this.root, full).split(path.sep).join('/')
          if (info) found.push({info, key, name: entry.name})
        }
      }
    }

    await walk(base)
    return found
  }

  async delete(key: string): Promise<void> {
    await this.checkRoot()
    await unlink(this.pathOf(key)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw failure(`cannot delete ${this.pathOf(key)}: ${error.message}`, error)
    })
  }

  private pathOf(key: string): string {
    const parts = key.split('/')
    if (key.startsWith('/') || parts.some((part) => part === '..' || part === '')) {
      if (key !== '.') throw failure(`invalid object key "${key}"`, undefined, 'invalid')
    }

    return path.join(this.root, ...parts)
  }

  /** Every local user can read the artifacts (and their hiera data) when the directory lets others in. */
  async exposure(): Promise<Exposure> {
    await this.checkRoot()
    for (const dir of [this.root, path.join(this.root, 'pupistry')]) {
      const info = await stat(dir).catch(() => undefined)
      if (!info) continue
      const mode = (info.mode & 0o777).toString(8).padStart(4, '0')
      if (info.mode & 0o005)
        return {detail: `${dir} is open to every local user (mode ${mode}); \`chmod o-rwx ${dir}\``, status: 'exposed'}
    }

    return {
      detail: `${this.root} is closed to other local users; who else can read it (a share, a web server) is not known here`,
      status: 'private',
    }
  }

  private async checkRoot(): Promise<void> {
    const info = await stat(this.root).catch(() => undefined)
    if (!info?.isDirectory()) {
      // Most often a share that is not mounted (yet): the agent's daemon retries sooner, as for a network store.
      const problem = info ? 'is not a directory' : 'does not exist'
      const message = `store directory ${this.root} ${problem} (general.storage is ${this.location}); create it, or mount the share`
      throw failure(message, undefined, 'unreachable')
    }
  }
}

function kindOf(info: {
  isDirectory(): boolean
  isFIFO(): boolean
  isSocket(): boolean
  isCharacterDevice(): boolean
  isBlockDevice(): boolean
}): string {
  if (info.isDirectory()) return 'a directory'
  if (info.isFIFO()) return 'a FIFO (named pipe)'
  if (info.isSocket()) return 'a socket'
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device'
  return 'something other than a file'
}

/** Device, inode, size and microsecond mtime: any rename or rewrite changes it. */
function tagOf(info: {dev: number; ino: number; size: number; mtimeMs: number}): string {
  return `"${info.dev.toString(16)}-${info.ino.toString(16)}-${info.size.toString(16)}-${Math.round(info.mtimeMs * 1000).toString(16)}"`
}

async function writeDurably(file: string, body: Readable | Uint8Array, signal?: AbortSignal): Promise<void> {
  if (body instanceof Uint8Array) {
    const handle = await open(file, 'wx', 0o640)
    try {
      await handle.writeFile(body)
      await handle.sync()
    } finally {
      await handle.close()
    }

    return
  }

  await pipeline(body, createWriteStream(file, {flags: 'wx', mode: 0o640}), {signal})
  const handle = await open(file, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined)
  if (!handle) return
  try {
    await handle.sync()
  } catch {
    // Some file systems (and shared mounts) cannot fsync a directory; the rename is still atomic.
  } finally {
    await handle.close()
  }
}
