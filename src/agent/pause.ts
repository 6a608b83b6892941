import {writeSync} from 'node:fs'

/**
 * TEST ONLY. When PUPISTRY_TEST_PAUSE_AT names this step (a comma-separated
 * list), the process says so on stderr and blocks for good, so a test can
 * kill it with SIGKILL at exactly that point. Unset (always, in production)
 * it costs one environment lookup. It blocks synchronously on purpose: the
 * same call works inside synchronous code and in worker threads.
 */
export function pausePoint(step: string): void {
  const wanted = process.env.PUPISTRY_TEST_PAUSE_AT
  if (!wanted?.split(',').includes(step)) return
  writeSync(2, `pupistry: test pause at ${step} (pid ${process.pid})\n`)
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)
}
