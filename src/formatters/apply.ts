import type {ApplyResult} from '../agent/apply.js'
import {shortVersion as short} from '../util/version.js'

/** One line for people about a finished run (apply, rollback, and each run of the daemon). */
export function describeResult(result: ApplyResult): string {
  const changes = result.puppet?.changes ? 'applied changes' : 'made no changes'
  const puppet = result.puppet ? `; puppet ${changes} (exit ${result.puppet.exitCode})` : ''
  const what = result.pinned
    ? `pinned to ${short(result.version)} by rollback (newest accepted serial ${result.serial})`
    : `${result.action} ${result.legacy ? 'Ruby-layout release' : `serial ${result.serial}`} (${short(result.version)})`
  return `${result.environment}: ${what}${puppet}`
}
