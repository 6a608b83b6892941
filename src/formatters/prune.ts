import type {PruneResult} from '../publish/prune.js'
import {formatBytes} from '../util/bytes.js'

/** Per environment what was kept and removed (with --dry-run, what would be removed, object by object). */
export function formatPrune(results: PruneResult[], dryRun: boolean): string {
  if (results.length === 0) return 'nothing of pupistry is in the store'
  const verb = dryRun ? 'would remove' : 'removed'
  const lines: string[] = []
  for (const result of results) {
    if (result.skipped) continue
    if (dryRun) for (const object of result.deleted) lines.push(`${result.environment}: would remove ${object.key}`)
    const kept = result.keptManifests
    lines.push(
      `${result.environment}: live serial ${result.live}; kept ${kept.length} manifest(s) (serials ${kept[0]}–${kept.at(-1)})` +
        ` and ${result.keptArtifacts} artifact(s); ${verb} ${result.deleted.length} object(s), ${formatBytes(result.freedBytes)}`,
    )
  }

  return lines.join('\n')
}
