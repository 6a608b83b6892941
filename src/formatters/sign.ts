import type {SignResult} from '../publish/cosign.js'
import {shortVersion} from '../util/version.js'

/** Who has signed, and whether that was enough to publish. */
export function formatSign(result: SignResult): string {
  const what = `${result.environment}${result.channel ? ` channel ${result.channel}` : ''} serial ${result.serial}`
  const signers = `signed by ${result.signedBy.join(', ')}`
  if (result.status === 'published')
    return `${what}: published ${shortVersion(result.version)}, ${signers} (threshold ${result.threshold})`
  const missing = result.threshold - result.signedBy.length
  return `${what}: ${signers}; ${missing} more signature(s) needed before it is published`
}
