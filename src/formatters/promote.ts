import type {PromoteResult} from '../delivery/promote.js'
import {STABLE_CHANNEL} from '../format/channel.js'
import {formatPush} from './push.js'

/** What was promoted from where, as push says what it published. */
export function formatPromote(result: PromoteResult): string {
  const {environment, channel, serial} = result.from
  const source = `${environment}${channel === STABLE_CHANNEL ? '' : ` channel ${channel}`} serial ${serial}`
  const record = result.provenanceRecord ? `; provenance signed in ${result.provenanceRecord}` : ''
  return `${formatPush([result])} (promoted from ${source}${record})`
}
