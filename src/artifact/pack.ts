import {createHash} from 'node:crypto'
import {createReadStream, statSync} from 'node:fs'
import {pipeline} from 'node:stream/promises'
import * as tar from 'tar'

import {runWorkerJob} from '../util/worker-job.js'
import {listTree} from './tree.js'

/** Files and links get this time (directories none, as node-tar's portable mode does), so the same tree gives the same bytes anywhere. */
export const ARTIFACT_MTIME = new Date('2000-01-01T00:00:00Z')

export interface PackResult {
  sha256: string
  size: number
  unpackedSize: number
  files: number
  skipped: string[]
}

export type PackOutcome = {ok: true; result: PackResult} | {ok: false; message: string}

/** What the packing thread says while it works, for the main thread's progress meter. */
export type PackProgress = {progress: {total: number} | {advance: number} | {done: true}}

type StartMeter = (total: number) => {advance(bytes: number): void; done(): void}

/** packTree in a worker thread: packing is synchronous, and there the signal (Ctrl-C) still stops it at once. */
export async function packInThread(
  root: string,
  outFile: string,
  options: {signal?: AbortSignal; startMeter?: StartMeter; exclude?: string[]} = {},
): Promise<PackResult> {
  let meter: ReturnType<StartMeter> | undefined
  const finish = () => {
    meter?.done()
    meter = undefined
  }
  const onProgress = ({progress}: PackProgress) => {
    if ('total' in progress) meter = options.startMeter?.(progress.total)
    else if ('advance' in progress) meter?.advance(progress.advance)
    else finish()
  }
  const outcome = await runWorkerJob<PackOutcome, PackProgress>(
    new URL('pack-worker.js', import.meta.url),
    {exclude: options.exclude, outFile, root},
    {
      onError: (error) => new Error(`packing ${root} failed: ${error.message}`, {cause: error}),
      onProgress,
      signal: options.signal,
    },
  ).finally(finish)
  if (!outcome.ok) throw new Error(outcome.message)
  return outcome.result
}

/** node-tar turns files with several links into hardlink entries; agents refuse those, so store every file whole. */
const noHardlinks = {get: () => undefined, set() {}} as unknown as Map<`${number}:${number}`, string>

/**
 * Packs a tree into a deterministic .tar.gz: sorted entries, fixed times,
 * no owners, modes 0644/0755, no .git. Synchronous node-tar writes as fast as
 * GNU tar here; the hash is taken from the file written.
 */
export async function packTree(
  root: string,
  outFile: string,
  startMeter?: (total: number) => {advance(bytes: number): void; done(): void},
  exclude?: (relative: string) => boolean,
): Promise<PackResult> {
  const listing = listTree(root, exclude)
  const meter = startMeter?.(listing.unpackedSize)
  const modes = new Map(listing.entries.map((entry) => [entry.path, entry.mode]))
  try {
    tar.c(
      {
        cwd: root,
        file: outFile,
        gzip: {level: 6},
        linkCache: noHardlinks,
        mtime: ARTIFACT_MTIME,
        noDirRecurse: true,
        onWriteEntry(entry) {
          // Entries are written in turn, each as it starts: counting them as they start is progress enough.
          if (entry.type === 'File') meter?.advance(entry.stat?.size ?? 0)
          const mode = modes.get(entry.path.replace(/\/$/, ''))
          if (mode !== undefined && entry.stat && entry.type !== 'SymbolicLink')
            entry.stat.mode = (entry.stat.mode & ~0o7777) | mode
        },
        portable: true,
        sync: true,
      },
      listing.entries.map((entry) => entry.path),
    )
  } finally {
    meter?.done()
  }
  return {
    files: listing.entries.filter((entry) => entry.type === 'file').length,
    sha256: await sha256File(outFile),
    size: statSync(outFile).size,
    skipped: listing.skipped,
    unpackedSize: listing.unpackedSize,
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(file, {highWaterMark: 1 << 20}), hash)
  return hash.digest('hex')
}
