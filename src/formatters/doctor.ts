import type {NodePolicies} from '../doctor/iam-policy.js'
import type {Check, CheckStatus} from '../doctor/doctor.js'

const MARK: Record<CheckStatus, string> = {fail: 'FAIL', ok: 'ok', skip: 'skip', warn: 'WARN'}

/** One aligned line per check: its mark, its name and what was found. */
export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((check) => check.name.length))
  return checks
    .map((check) => `${MARK[check.status].padEnd(4)}  ${check.name.padEnd(width)}  ${check.detail}`)
    .join('\n')
}

/** The two policies as JSON documents, each under a line saying what it is for. */
export function formatPolicies(policies: NodePolicies): string {
  return [
    "# Node read policy: every node's credentials (store objects; no fleet reports)",
    JSON.stringify(policies.read, null, 2),
    `# Node report policy: PutObject only below the caller's own \${aws:userid} (agent.report_id)`,
    JSON.stringify(policies.report, null, 2),
  ].join('\n')
}
