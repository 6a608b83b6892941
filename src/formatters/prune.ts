import type {PruneResult} from '../publish/prune.js'
import type {LegacyPruneResult} from '../publish/legacy-prune.js'
import {formatBytes} from '../util/bytes.js'

/** Per environment what was kept and removed (with --dry-run, what would be removed, object by object). */
export function formatPrune(results: PruneResult[], dryRun: boolean): string {
  if (results.length === 0) return 'nothing of pupistry is in the store'
  const verb = dryRun ? 'would remove' : 'removed'
  const lines: string[] = []
  for (const result of results) {
    if (result.skipped) {
      // Skipped (no pointer: a first push that was interrupted), but what that push left can still go.
      if (result.incomplete) lines.push(`${result.environment}: ${verb} ${result.incomplete} unfinished upload(s)`)
      continue
    }

    if (dryRun) for (const object of result.deleted) lines.push(`${result.environment}: would remove ${object.key}`)
    const kept = result.keptManifests
    const sealed = result.keptSealed ? ` and ${result.keptSealed} sealed object(s)` : ''
    lines.push(
      `${result.environment}: live serial ${result.live}; kept ${kept.length} manifest(s) (serials ${kept[0]}–${kept.at(-1)})` +
        ` and ${result.keptArtifacts} artifact(s)${sealed}; ${verb} ${result.deleted.length} object(s), ${formatBytes(result.freedBytes)}` +
        (result.incomplete ? ` and ${result.incomplete} unfinished upload(s)` : ''),
    )
  }

  return lines.join('\n')
}

/** `prune --legacy`: the Ruby layout's live version, what was kept and what went. */
export function formatLegacyPrune(result: LegacyPruneResult, dryRun: boolean): string {
  if (result.skipped) return `Ruby layout at ${result.location}: ${result.skipped}; nothing pruned`
  const verb = dryRun ? 'would remove' : 'removed'
  const lines = dryRun ? result.deleted.map((object) => `Ruby layout: would remove ${object.key}`) : []
  lines.push(
    `Ruby layout at ${result.location}: live version ${result.live}; kept ${result.kept.length} version(s); ` +
      `${verb} ${result.deleted.length} object(s), ${formatBytes(result.freedBytes)}`,
  )
  return lines.join('\n')
}
