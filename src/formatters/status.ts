import {STABLE_CHANNEL} from '../format/channel.js'
import type {Provenance} from '../format/provenance.js'
import type {Health} from '../status/health.js'
import type {StatusReport} from '../status/status.js'
import {printable} from '../util/printable.js'
import {shortVersion} from '../util/version.js'
import {table} from './table.js'

const short = (version?: string) => shortVersion(version, '-')

/** " (from staging 4)", " (from canary 7)": where a promoted release came from. */
function promoted(from?: Provenance): string {
  if (!from) return ''
  const channel = from.channel === STABLE_CHANNEL ? '' : `${from.channel} of `
  return ` (from ${channel}${from.environment} ${from.serial})`
}

/** A table of the built, published and installed version of each environment. */
export function formatStatus(report: StatusReport): string {
  if (report.environments.length === 0) return 'no environments built, published or installed on this machine'
  const rows = [['ENVIRONMENT', 'BUILT', 'PUBLISHED', 'SERIAL', 'INSTALLED', 'LAST APPLY']]
  for (const entry of report.environments) {
    const installed = entry.installed
    const applied = installed?.appliedAt ? `${installed.appliedAt} (${short(installed.appliedVersion)})` : '-'
    const lastApply = installed?.lastError ? `error: ${printable(installed.lastError, {oneLine: true})}` : applied
    const version = installed?.pinned
      ? `${short(installed.pinned)} (pinned)`
      : short(installed?.active ?? installed?.version)
    const active = installed?.legacy ? `${version} (legacy)` : version
    const serial = entry.published ? `${entry.published.serial}${promoted(entry.published.promotedFrom)}` : '-'
    rows.push([
      entry.environment,
      short(entry.built?.version),
      short(entry.published?.version),
      serial,
      active,
      lastApply,
    ])
  }

  return table(rows)
}

/** `status --check`: one line per environment, OK or UNHEALTHY with the reasons. */
export function formatHealth(health: Health[]): string {
  const line = (entry: Health) => {
    if (!entry.healthy)
      return `${entry.environment}: UNHEALTHY: ${printable(entry.problems.join('; '), {oneLine: true})}`
    const pinned = entry.pinned ? `, pinned to ${short(entry.pinned)} by rollback` : ''
    return `${entry.environment}: OK, last applied ${entry.appliedAt} (${short(entry.appliedVersion)})${pinned}`
  }
  return health.map(line).join('\n')
}
