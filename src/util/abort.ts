import {setTimeout as delay} from 'node:timers/promises'

/**
 * Waits for a promise unless the signal fires first; then throws the
 * signal's reason at once. A result that arrives after that is handed to
 * `late` (for example to close a stream nobody will read).
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  late?: (value: T) => void,
): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) {
    promise.then(late, () => {})
    return Promise.reject(signal.reason)
  }

  return new Promise<T>((resolve, reject) => {
    let done = false
    const onAbort = () => {
      done = true
      reject(signal.reason)
    }

    signal.addEventListener('abort', onAbort, {once: true})
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        if (done) late?.(value)
        else resolve(value)
      },
      (error) => {
        signal.removeEventListener('abort', onAbort)
        if (!done) reject(error)
      },
    )
  })
}

/** Sleeps, or throws the signal's reason as soon as it fires. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, {signal})
  } catch (error) {
    throw signal?.aborted ? signal.reason : error
  }
}
