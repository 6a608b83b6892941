import type {PushResult} from '../publish/push.js'
import {shortVersion} from '../util/version.js'

/** One line per environment: what was published, under which serial and signature. */
export function formatPush(results: PushResult[]): string {
  const lines = results.map((result) => {
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
