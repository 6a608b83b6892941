import {StoppedError} from '../errors.js'

/**
 * Runs one agent run that SIGINT, SIGTERM, SIGHUP (a dropped SSH session)
 * or SIGQUIT interrupt at once: the signal it gets abandons a download or
 * unpack and stops Puppet, which runs in a session of its own and would
 * otherwise outlive us. The run ends with StoppedError (exit 24), recorded
 * with what it left behind (withAgentLock). (The daemon handles its signals
 * itself: there SIGHUP re-reads the settings.)
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abandon = new AbortController()
  const stop = () => abandon.abort(new StoppedError('interrupted'))
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const
  for (const signal of signals) process.on(signal, stop)
  try {
    return await work(abandon.signal)
  } finally {
    for (const signal of signals) process.off(signal, stop)
  }
}
