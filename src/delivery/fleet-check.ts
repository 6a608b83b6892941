import {parseDuration} from '../config/duration.js'
import {UsageError} from '../errors.js'
import {CHANNEL_PATTERN} from '../format/channel.js'

/** One `--check`: `[channel:]condition,...`, where a condition is `ok>=N%` or `age<=DURATION`. */
export interface FleetCheck {
  text: string
  channel?: string
  /** Least share of the nodes (in percent) that must be healthy: no flag at all. */
  okPercent?: number
  /** Oldest report allowed, in seconds. */
  maxAge?: number
}

/** What a check is judged on: one entry per node report. */
export interface CheckedNode {
  channel?: string
  /** Seconds since the report was written, when it could be believed. */
  age?: number
  flags: string[]
}

export function parseFleetCheck(text: string): FleetCheck {
  const bad = (why: string) =>
    new UsageError(`--check ${text}: ${why}`, {hint: "write it like 'canary:ok>=95%,age<=1h'"})
  const colon = text.indexOf(':')
  const check: FleetCheck = {text}
  let conditions = text
  if (colon >= 0) {
    check.channel = text.slice(0, colon)
    if (!CHANNEL_PATTERN.test(check.channel)) throw bad(`not a channel name: ${check.channel}`)
    conditions = text.slice(colon + 1)
  }

  for (const condition of conditions.split(',').map((part) => part.trim())) {
    const ok = /^ok>=(\d{1,3}(?:\.\d+)?)%$/.exec(condition)
    const age = /^age<=(.+)$/.exec(condition)
    if (ok && Number(ok[1]) <= 100) check.okPercent = Number(ok[1])
    else if (age && parseDuration(age[1]) !== undefined) check.maxAge = parseDuration(age[1])
    else throw bad(`not a condition: ${condition || '(empty)'} (ok>=N% or age<=DURATION)`)
  }

  return check
}

/** Whether the nodes meet a check, and why not. A check that matches no node fails: silence is not health. */
export function judgeFleetCheck(check: FleetCheck, nodes: CheckedNode[]): {ok: boolean; detail: string} {
  const matching = nodes.filter((node) => check.channel === undefined || node.channel === check.channel)
  const where = check.channel ? `channel ${check.channel}` : 'the fleet'
  if (matching.length === 0) return {detail: `${check.text}: no node of ${where} has reported`, ok: false}
  const problems: string[] = []
  if (check.okPercent !== undefined) {
    const healthy = matching.filter((node) => node.flags.length === 0).length
    const share = (healthy / matching.length) * 100
    if (share < check.okPercent)
      problems.push(`${healthy} of ${matching.length} nodes ok (${share.toFixed(1)} % < ${check.okPercent} %)`)
  }

  if (check.maxAge !== undefined) {
    const old = matching.filter((node) => node.age === undefined || node.age > check.maxAge!).length
    if (old > 0) problems.push(`${old} of ${matching.length} reports older than ${check.maxAge} s or unbelievable`)
  }

  return problems.length === 0
    ? {detail: `${check.text}: ${matching.length} nodes of ${where} meet it`, ok: true}
    : {detail: `${check.text}: ${problems.join('; ')}`, ok: false}
}
