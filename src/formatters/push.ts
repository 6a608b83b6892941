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
    if (result.status === 'prepared') {
      const channel = result.channel ? ` --channel ${result.channel}` : ''
      return (
        `${result.environment}: prepared ${version} as serial ${result.serial}${signed}; not published until ` +
        `more keys sign it (general.signature_threshold): \`pupistry sign -e ${result.environment}${channel}\``
      )
    }

    const channel = result.channel ? ` on channel ${result.channel}` : ''
    const rollout = result.rollout === undefined ? '' : ` (rolling out to ${result.rollout} % of nodes)`
    return `${result.environment}: published ${version}${rollback}${channel} as serial ${result.serial}${rollout}${signed}`
  })
  return lines.join('\n')
}
