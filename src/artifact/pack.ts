import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {pipeline} from 'node:stream/promises'
import {createGzip} from 'node:zlib'

import {runWorkerJob} from '../util/worker-job.js'

/** Files and links get this time (directories none, as node-tar's portable mode does), so the same tree gives the same bytes anywhere. */
export const ARTIFACT_MTIME = new Date('2000-01-01T00:00:00Z')

export interface PackResult {
  sha256: string
  size: number
  unpackedSize: number
  files: number
  skipped: string[]
}

/** What the tar thread (pack-worker.ts) is given: the tree, what to leave out, and the ring it writes the tar stream into. */
export interface PackJob {
  root: string
  exclude?: string[]
  /** SLOTS slots of SLOT_BYTES each. */
  ring: SharedArrayBuffer
  /** One Int32: slots written and not yet compressed. */
  queued: SharedArrayBuffer
}

/** The tar thread's last message: what it packed (hash and size are the compressed file's, known here), or why it could not. */
export type PackOutcome = {ok: true; result: Omit<PackResult, 'sha256' | 'size'>} | {ok: false; message: string}

/** What the tar thread says while it works: sizes for the progress meter, and each slot it filled. */
export type PackProgress = {
  progress: {total: number} | {advance: number} | {slot: number; length: number}
}

type StartMeter = (total: number) => {advance(bytes: number): void; done(): void}

export const SLOT_BYTES = 1 << 20
const SLOTS = 8
/** The tar thread holds one read buffer at a time; a small young generation makes it collect them promptly. */
const TAR_THREAD_MEMORY = {maxYoungGenerationSizeMb: 4}
/** Byte 9 of a gzip header names the OS: 255 (unknown), as node-tar's portable mode writes it, so any host gives the same bytes. */
const GZIP_OS_OFFSET = 9
const GZIP_OS_UNKNOWN = 0xff

/**
 * Packs a tree into a deterministic .tar.gz: sorted entries, fixed times,
 * no owners, modes 0644/0755, no .git, nothing `exclude` names. A worker
 * thread lists the tree and writes its tar stream (synchronous node-tar is
 * fastest with many small files) into a ring of shared slots, while zlib
 * compresses each filled slot on the thread pool: two cores. Deflate's
 * output depends on the bytes and the level, not on how the stream was cut,
 * so the artifact is byte for byte what one thread would write. Memory is
 * the ring and zlib's window whatever the tree's size. The signal (Ctrl-C)
 * stops the thread at once: the synchronous tar never blocks this thread.
 */
export async function packTree(
  root: string,
  outFile: string,
  options: {signal?: AbortSignal; startMeter?: StartMeter; exclude?: string[]} = {},
): Promise<PackResult> {
  const ring = new SharedArrayBuffer(SLOTS * SLOT_BYTES)
  const queued = new Int32Array(new SharedArrayBuffer(4))
  const gzip = createGzip({level: 6})
  const hash = createHash('sha256')
  let size = 0
  const written = pipeline(
    gzip,
    async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        if (size <= GZIP_OS_OFFSET && GZIP_OS_OFFSET < size + chunk.length)
          chunk[GZIP_OS_OFFSET - size] = GZIP_OS_UNKNOWN
        hash.update(chunk)
        size += chunk.length
        yield chunk
      }
    },
    createWriteStream(outFile),
  )
  // A failed write stops the tar thread, which would otherwise wait for slots no one frees.
  const failed = new AbortController()
  written.catch((error: unknown) => failed.abort(error))

  let meter: ReturnType<StartMeter> | undefined
  const onProgress = ({progress}: PackProgress) => {
    if ('slot' in progress) {
      // zlib calls back once it has consumed the bytes, so the slot may be written again from then on.
      gzip.write(Buffer.from(ring, progress.slot * SLOT_BYTES, progress.length), () => {
        Atomics.sub(queued, 0, 1)
        Atomics.notify(queued, 0)
      })
    } else if ('total' in progress) {
      meter = options.startMeter?.(progress.total)
    } else if ('advance' in progress) {
      meter?.advance(progress.advance)
    }
  }

  const job: PackJob = {exclude: options.exclude, queued: queued.buffer as SharedArrayBuffer, ring, root}
  const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal
  try {
    const outcome = await runWorkerJob<PackOutcome, PackProgress>(new URL('pack-worker.js', import.meta.url), job, {
      onError: (error) => new Error(`packing ${root} failed: ${error.message}`, {cause: error}),
      onProgress,
      resourceLimits: TAR_THREAD_MEMORY,
      signal,
    })
    if (!outcome.ok) throw new Error(outcome.message)
    gzip.end()
    await written
    return {...outcome.result, sha256: hash.digest('hex'), size}
  } catch (error) {
    // Closed before the caller removes the file, so nothing writes to it afterwards.
    gzip.destroy()
    await written.catch(() => undefined)
    throw error
  } finally {
    meter?.done()
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file, {highWaterMark: 1 << 20}), hash)
  return hash.digest('hex')
}
