import type {NotBuiltResult, PushResult} from '../publish/push.js'
import {shortVersion} from '../util/version.js'

/** One line per environment: what was published, under which serial and signature. */
export function formatPush(results: Array<PushResult | NotBuiltResult>): string {
  const lines = results.map((result) => {
    if (result.status === 'build-failed') return `${result.environment}: not pushed (its last build failed)`
    const version = shortVersion(result.version)
    if (result.status === 'already-live') {
      return `${result.environment}: ${version} is already live (serial ${result.serial}); nothing to push`
    }

    const rollback = result.rollback ? ' (an earlier build: a rollback)' : ''
    const signed = result.signedBy ? `, signed by ${result.signedBy}` : ' UNSIGNED'
    return `${result.environment}: published ${version}${rollback} as serial ${result.serial}${signed}`
  })
  return lines.join('\n')
}
