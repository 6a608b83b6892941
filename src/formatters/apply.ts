import type {ApplyResult} from '../agent/apply.js'
import type {PuppetRun} from '../agent/puppet.js'
import {shortVersion as short} from '../util/version.js'

/** One line for people about a finished run (apply, rollback, and each run of the daemon). */
export function describeResult(result: ApplyResult): string {
  const {puppet} = result
  const ran = puppet ? `; puppet ${puppetSaid(puppet)} (exit ${puppet.exitCode})` : ''
  const what = result.pinned
    ? `pinned to ${short(result.version)} by rollback (newest accepted serial ${result.serial})`
    : result.action === 'pending'
      ? `serial ${result.serial} (${short(result.version)}) ${
          result.sealedOnly ? 'brings new sealed hiera data only: evaluated' : 'downloaded and evaluated'
        } with --noop, not activated`
      : `${result.action} ${result.legacy ? 'Ruby-layout release' : `serial ${result.serial}`} (${short(result.version)})`
  return `${result.environment}: ${what}${ran}`
}

function puppetSaid(puppet: PuppetRun): string {
  if (puppet.noop) return puppet.changes ? 'has changes pending (--noop: none applied)' : 'has no changes pending'
  return puppet.changes ? 'applied changes' : 'made no changes'
}
