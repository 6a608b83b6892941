import type {BuiltEnvironment} from '../build/build.js'
import {shortVersion} from '../util/version.js'
import {formatBytes} from '../util/bytes.js'

/** What `build --json` prints for each environment: its version and the artifact's record. */
export function buildSummary(results: BuiltEnvironment[]) {
  return results.map(({record, unchanged}) => ({
    environment: record.environment,
    unchanged,
    version: record.version,
    ...record.artifact,
  }))
}

/** One line per environment, and a reminder when nothing changed upstream. */
export function formatBuild(results: BuiltEnvironment[]): string {
  const lines = results.map(({record, unchanged}) => {
    const {artifact} = record
    const sizes = `${formatBytes(artifact.size)}, ${artifact.files} files, ${formatBytes(artifact.unpacked_size)} unpacked`
    return `${record.environment}: ${shortVersion(record.version)} ${unchanged ? 'unchanged' : 'built'} (${sizes})`
  })
  if (results.every((result) => result.unchanged)) lines.push('nothing changed — did you git push?')
  return lines.join('\n')
}
