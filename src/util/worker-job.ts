import {type ResourceLimits, Worker} from 'node:worker_threads'

/**
 * Runs one job in a worker thread and resolves with the one message the
 * worker answers (messages with a `progress` member before it go to onProgress). Synchronous work (tar) there leaves the main thread free
 * to hear a signal: when `signal` fires the thread is terminated, and the
 * promise rejects with the signal's reason only once it has stopped, so the
 * caller's cleanup never races a thread still writing files.
 */
export function runWorkerJob<T, P extends {progress: unknown} = never>(
  script: URL,
  data: unknown,
  options: {
    signal?: AbortSignal
    resourceLimits?: ResourceLimits
    onError: (error: Error) => Error
    /** Messages with a `progress` member, sent before the answer. */
    onProgress?: (message: P) => void
  },
): Promise<T> {
  const {signal} = options
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(script, {resourceLimits: options.resourceLimits, workerData: data})
    let settled = false
    let abandoned = false
    const settle = (outcome: {value: T} | {error: unknown}) => {
      if (settled) return
      settled = true
      signal?.removeEventListener('abort', abandon)
      if ('value' in outcome) resolve(outcome.value)
      else reject(outcome.error)
    }

    const abandon = () => {
      abandoned = true
      const done = () => settle({error: signal?.reason})
      worker.terminate().then(done, done)
    }

    signal?.addEventListener('abort', abandon, {once: true})
    worker.on('message', (value: T | P) => {
      if (abandoned) return
      if (typeof value === 'object' && value !== null && 'progress' in value) options.onProgress?.(value as P)
      else settle({value: value as T})
    })
    worker.once('error', (error) => abandoned || settle({error: options.onError(error)}))
    worker.once('exit', (code) => {
      if (!abandoned)
        settle({error: options.onError(new Error(`the thread stopped with code ${code} without an answer`))})
    })
  })
}
