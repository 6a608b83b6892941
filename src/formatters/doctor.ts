import type {Check, CheckStatus} from '../doctor/doctor.js'

const MARK: Record<CheckStatus, string> = {fail: 'FAIL', ok: 'ok', skip: 'skip', warn: 'WARN'}

/** One aligned line per check: its mark, its name and what was found. */
export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((check) => check.name.length))
  return checks
    .map((check) => `${MARK[check.status].padEnd(4)}  ${check.name.padEnd(width)}  ${check.detail}`)
    .join('\n')
}
