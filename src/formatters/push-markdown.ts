import type {PushResult} from '../publish/push.js'
import {shortVersion} from '../util/version.js'
import {codeCell, table, textCell} from './markdown.js'

/** A job summary ($GITHUB_STEP_SUMMARY, a GitLab report): one table row per environment pushed. */
export function formatPushMarkdown(results: PushResult[]): string {
  const rows = results.map((result) => [
    textCell(result.environment),
    result.status === 'already-live' ? 'already live' : result.rollback ? 'published (rollback)' : 'published',
    codeCell(shortVersion(result.version)),
    String(result.serial),
    result.status === 'already-live' ? '' : result.signedBy ? textCell(result.signedBy) : '**UNSIGNED**',
  ])
  return `## pupistry push\n\n${table(['Environment', 'Result', 'Version', 'Serial', 'Signed by'], rows)}\n`
}
