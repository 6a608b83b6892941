import type {EnvironmentDiff} from '../publish/diff.js'
import {printable} from '../util/printable.js'
import {shortVersion} from '../util/version.js'

const colors = {bold: 1, cyan: 36, dim: 2, green: 32, red: 31, yellow: 33}

/** Module refs carry full commit ids; twelve characters are enough to read. */
export const shortRef = (ref?: string) => (ref ?? '').replace(/@([0-9a-f]{12})[0-9a-f]{28}\b/, '@$1')

export function renderDiff(results: EnvironmentDiff[], options: {color: boolean}): string {
  const paint = (color: keyof typeof colors, text: string) =>
    options.color ? `\u001B[${colors[color]}m${text}\u001B[0m` : text
  const out: string[] = []
  for (const result of results) {
    const built = shortVersion(result.built)
    if (!result.published) out.push(paint('bold', `${result.environment}: not published yet; built ${built}`))
    else if (result.published.version === result.built && !hasSealedChanges(result)) {
      out.push(`${result.environment}: no changes (${built} is live as serial ${result.published.serial})`)
      continue
    } else
      out.push(
        paint(
          'bold',
          `${result.environment}: published ${shortVersion(result.published.version)} (serial ${result.published.serial}) → built ${built}`,
        ),
      )

    if (result.modules.length > 0) {
      out.push('  modules:')
      for (const module of result.modules) {
        if (module.change === 'added') out.push(paint('green', `    + ${module.name} ${shortRef(module.to)}`))
        else if (module.change === 'removed') out.push(paint('red', `    - ${module.name} ${shortRef(module.from)}`))
        else out.push(paint('yellow', `    ~ ${module.name} ${shortRef(module.from)} → ${shortRef(module.to)}`))
      }
    }

    const counts = (['added', 'changed', 'removed'] as const).map(
      (kind) => `${result.files.filter((file) => file.change === kind).length} ${kind}`,
    )
    out.push(`  files: ${counts.join(', ')}`)
    for (const file of result.files) {
      const mark =
        file.change === 'added'
          ? paint('green', 'A')
          : file.change === 'removed'
            ? paint('red', 'D')
            : paint('yellow', 'M')
      const lines = file.hidden
        ? ' (content not shown)'
        : file.binary
          ? ' (binary or large)'
          : ` ${paint('green', `+${file.added}`)} ${paint('red', `-${file.removed}`)}`
      out.push(`    ${mark} ${printable(file.path, {oneLine: true})}${lines}`)
    }

    out.push(...renderSealed(result, paint))
    for (const file of result.files) {
      if (!file.patch) continue
      // Published file contents and names come from the store: shown, never interpreted by the terminal.
      for (const line of file.patch
        .split('\n')
        .slice(1)
        .map((text) => printable(text, {oneLine: true}))) {
        if (line.startsWith('+++') || line.startsWith('---')) out.push(paint('bold', line))
        else if (line.startsWith('+')) out.push(paint('green', line))
        else if (line.startsWith('-')) out.push(paint('red', line))
        else if (line.startsWith('@@')) out.push(paint('cyan', line))
        else if (line) out.push(line)
      }
    }
  }

  return out.length > 0 ? `${out.join('\n')}\n` : ''
}

function hasSealedChanges(result: EnvironmentDiff): boolean {
  const sealed = result.sealed
  return Boolean(sealed && (sealed.readers.length > 0 || sealed.changed.length > 0 || sealed.unknownPublished))
}

/** Per reader, the protected files it gains (+) or loses (-); then the files whose sealed content changed. */
function renderSealed(result: EnvironmentDiff, paint: (color: keyof typeof colors, text: string) => string): string[] {
  const {sealed} = result
  if (!sealed || !hasSealedChanges(result)) return []
  const out = ['  sealed hiera:']
  if (sealed.unknownPublished) out.push('    the published index was sealed elsewhere: reader changes unknown')
  for (const {reader, added, removed} of sealed.readers) {
    out.push(`    ${reader}:`)
    for (const file of added) out.push(paint('green', `      + ${file}`))
    for (const file of removed) out.push(paint('red', `      - ${file}`))
  }

  for (const file of sealed.changed) out.push(paint('yellow', `    M ${file} changed (sealed)`))
  return out
}
