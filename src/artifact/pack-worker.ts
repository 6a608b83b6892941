import {parentPort, workerData} from 'node:worker_threads'
import * as tar from 'tar'

import {ARTIFACT_MTIME, type PackJob, type PackOutcome, type PackProgress, SLOT_BYTES} from './pack.js'
import {listTree} from './tree.js'

/**
 * Lists a tree and writes its tar stream into the ring of shared slots the
 * main thread compresses from. It waits whenever every slot is still
 * queued there, so memory stays flat however large the tree.
 */
const job = workerData as PackJob
const queued = new Int32Array(job.queued)
const ring = new Uint8Array(job.ring)
const slots = job.ring.byteLength / SLOT_BYTES
/** node-tar turns files with several links into hardlink entries; agents refuse those, so store every file whole. */
const noHardlinks = {get: () => undefined, set() {}} as unknown as Map<`${number}:${number}`, string>

const say = (progress: PackProgress['progress']) => parentPort?.postMessage({progress} satisfies PackProgress)

let slot = 0
let filled = 0

function put(chunk: Buffer): void {
  for (let offset = 0; offset < chunk.length; ) {
    // The main thread frees slots in the order they were sent, so fewer than all queued means this one is free.
    if (filled === 0)
      for (let now = Atomics.load(queued, 0); now >= slots; now = Atomics.load(queued, 0)) Atomics.wait(queued, 0, now)
    const length = Math.min(chunk.length - offset, SLOT_BYTES - filled)
    ring.set(chunk.subarray(offset, offset + length), slot * SLOT_BYTES + filled)
    filled += length
    offset += length
    if (filled === SLOT_BYTES) send()
  }
}

function send(): void {
  if (filled === 0) return
  Atomics.add(queued, 0, 1)
  say({length: filled, slot})
  slot = (slot + 1) % slots
  filled = 0
}

/** "cannot read modules/x/secret.pp: permission denied": the file and why, in one line. */
function describe(error: unknown): string {
  const {code, message, path} = error as NodeJS.ErrnoException
  if (!(error instanceof Error)) return String(error)
  if (path === undefined || code === undefined) return message
  const why = /^[A-Z]+: ([^,]+),/.exec(message)?.[1] ?? message
  return `cannot read ${path}: ${why} (${code})`
}

let outcome: PackOutcome
try {
  const left = job.exclude && new Set(job.exclude)
  const listing = listTree(job.root, left && ((relative) => left.has(relative)))
  say({total: listing.unpackedSize})
  const modes = new Map(listing.entries.map((entry) => [entry.path, entry.mode]))
  const pack = new tar.PackSync({
    cwd: job.root,
    linkCache: noHardlinks,
    maxReadSize: SLOT_BYTES,
    mtime: ARTIFACT_MTIME,
    noDirRecurse: true,
    onWriteEntry(entry) {
      // Entries are written in turn, each as it starts: counting them as they start is progress enough.
      if (entry.type === 'File') say({advance: entry.stat?.size ?? 0})
      const mode = modes.get(entry.path.replace(/\/$/, ''))
      if (mode !== undefined && entry.stat && entry.type !== 'SymbolicLink')
        entry.stat.mode = (entry.stat.mode & ~0o7777) | mode
    },
    portable: true,
    // Any problem reading the tree fails the build: an artifact must never lack a file without anyone knowing.
    strict: true,
  })
  pack.on('data', put)
  for (const entry of listing.entries) pack.add(entry.path)
  pack.end()
  send()
  outcome = {
    ok: true,
    result: {
      files: listing.entries.filter((entry) => entry.type === 'file').length,
      skipped: listing.skipped,
      unpackedSize: listing.unpackedSize,
    },
  }
} catch (error) {
  outcome = {message: describe(error), ok: false}
}

parentPort?.postMessage(outcome)
