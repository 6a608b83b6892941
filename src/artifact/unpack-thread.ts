import {Worker} from 'node:worker_threads'

import {LocalDiskError, PupistryError, VerificationError} from '../errors.js'

export interface UnpackJob {
  file: string
  dest: string
  limits: {unpackedSize: number}
}

export type UnpackOutcome = {ok: true} | {ok: false; kind: 'verification' | 'disk' | 'other'; message: string}

/**
 * unpackArtifact in a worker thread: extraction is synchronous (fast with
 * many small files), and in a thread it can still be abandoned the moment
 * the signal fires. The caller removes the half-filled directory.
 */
export function unpackInThread(job: UnpackJob, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('unpack-worker.js', import.meta.url), {workerData: job})
    let settled = false
    const settle = (error?: unknown) => {
      if (settled) return
      settled = true
      signal?.removeEventListener('abort', abandon)
      if (error === undefined) resolve()
      else reject(error)
    }

    const abandon = () => {
      settle(signal?.reason)
      void worker.terminate()
    }

    signal?.addEventListener('abort', abandon, {once: true})
    worker.once('message', (outcome: UnpackOutcome) => {
      if (outcome.ok) return settle()
      const Kind = outcome.kind === 'verification' ? VerificationError : outcome.kind === 'disk' ? LocalDiskError : PupistryError
      settle(new Kind(outcome.message))
    })
    worker.once('error', (error) => settle(new PupistryError(`cannot unpack ${job.file}: ${error.message}`, {cause: error})))
    worker.once('exit', (code) => settle(code === 0 ? undefined : new PupistryError(`the unpacking thread for ${job.file} stopped with code ${code}`)))
  })
}
