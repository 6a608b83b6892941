import type {FleetNode, FleetResult} from '../delivery/fleet.js'
import {printable} from '../util/printable.js'
import {shortVersion} from '../util/version.js'
import {table} from './table.js'

/** Seconds as the largest whole unit that fits: 45s, 12m, 3h, 2d. */
function age(seconds?: number): string {
  if (seconds === undefined) return '-'
  if (seconds < 120) return `${seconds}s`
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86_400)}d`
}

function result(node: FleetNode): string {
  if (node.lastExit === undefined) return '-'
  if (node.lastExit === null) return 'never ran'
  return node.lastExit === 0 ? 'ok' : `exit ${node.lastExit}`
}

/** One row per node report, then the checks' verdicts. */
export function formatFleet(fleet: FleetResult): string {
  if (fleet.nodes.length === 0) return 'no node reports in the store'
  const rows = [['NODE', 'ENVIRONMENT', 'CHANNEL', 'SERIAL', 'VERSION', 'AGE', 'LAST RUN', 'AGENT', 'FLAGS']]
  for (const node of fleet.nodes) {
    rows.push([
      printable(node.node, {oneLine: true}),
      node.environment,
      node.channel ?? '-',
      node.serial === undefined || node.serial === null ? '-' : String(node.serial),
      shortVersion(node.version ?? undefined, '-'),
      age(node.age),
      result(node),
      node.agent ? printable(node.agent, {oneLine: true}) : '-',
      flagsOf(node),
    ])
  }

  const checks = fleet.checks.map((check) => `${check.ok ? 'PASS' : 'FAIL'} ${check.detail}`)
  return [table(rows), ...checks].join('\n')
}

function flagsOf(node: FleetNode): string {
  if (node.flags.length === 0) return 'ok'
  const pinned = node.pinned
    ? `rolled back from serial ${node.pinned.serial} (${shortVersion(node.pinned.from ?? undefined, '-')})`
    : undefined
  const why = [node.problem, pinned].filter(Boolean).join('; ')
  return `${node.flags.join(',')}${why ? `: ${why}` : ''}`
}
