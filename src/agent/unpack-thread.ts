import {Worker} from 'node:worker_threads'

import type {ArchiveShape} from '../artifact/unpack.js'
import {BugError, LocalDiskError, PupistryError, VerificationError} from '../errors.js'

export interface UnpackJob {
  file: string
  dest: string
  limits: {unpackedSize: number}
  shape?: ArchiveShape
}

export type UnpackOutcome = {ok: true} | {ok: false; kind: 'verification' | 'disk' | 'other'; message: string}

/**
 * The unpacking thread's heap. Extraction streams, so a real artifact needs a
 * few MB whatever its size; the limit is a last line against an archive
 * that makes the tar reader hold more than it should (it ends the thread).
 */
const UNPACK_MEMORY = {maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 16}

/**
 * unpackArtifact in a worker thread: extraction is synchronous (fast with
 * many small files), and in a thread it can still be abandoned the moment
 * the signal fires. The caller removes the half-filled directory.
 */
export function unpackInThread(job: UnpackJob, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('unpack-worker.js', import.meta.url), {
      resourceLimits: UNPACK_MEMORY,
      workerData: job,
    })
    let settled = false
    let abandoned = false
    const settle = (error?: unknown) => {
      if (settled) return
      settled = true
      signal?.removeEventListener('abort', abandon)
      if (error === undefined) resolve()
      else reject(error)
    }

    // What the thread says or does once it is being stopped no longer counts.
    const outcome = (error?: unknown) => {
      if (!abandoned) settle(error)
    }

    // Settled only once the thread has stopped, so the caller's cleanup never races a thread still writing files.
    const abandon = () => {
      abandoned = true
      const reason = signal?.reason
      worker.terminate().then(
        () => settle(reason),
        () => settle(reason),
      )
    }

    signal?.addEventListener('abort', abandon, {once: true})
    worker.once('message', (result: UnpackOutcome) => {
      if (result.ok) return outcome()
      const Kind =
        result.kind === 'verification' ? VerificationError : result.kind === 'disk' ? LocalDiskError : PupistryError
      outcome(new Kind(result.message))
    })
    worker.once('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ERR_WORKER_OUT_OF_MEMORY')
        return outcome(new PupistryError(`cannot unpack ${job.file}: ${error.message}`, {cause: error}))
      outcome(
        new VerificationError(
          `artifact refused: unpacking ${job.file} needed more than ${UNPACK_MEMORY.maxOldGenerationSizeMb} MB of memory`,
          {cause: error},
        ),
      )
    })
    // The worker answers every job with a message before it ends, so an exit without one is our fault.
    worker.once('exit', (code) => {
      const what = `the unpacking thread for ${job.file} stopped with code ${code} without an answer`
      outcome(code === 0 ? undefined : new BugError(what))
    })
  })
}
