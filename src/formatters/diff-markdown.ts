import type {EnvironmentDiff, FileChange} from '../publish/diff.js'
import {printable} from '../util/printable.js'
import {shortVersion} from '../util/version.js'
import {shortRef} from './diff.js'
import {codeCell, fenced, table, textCell} from './markdown.js'

/** GitHub refuses a comment longer than 65,536 characters; bytes count at least as many, so this leaves room. */
export const DEFAULT_MAX_BYTES = 60_000

/** Kept free for the note that says what was cut. */
const NOTE_ROOM = 600

/** A cut patch is shown in part only when at least this much of it fits. */
const MIN_PART = 1024

const bytes = (text: string) => Buffer.byteLength(text, 'utf8')

/**
 * The diff as Markdown for a pull-request comment or a job summary, at most
 * `maxBytes` long: every environment's summary, module and file tables come
 * first, then the unified diffs in order while they fit. What did not fit is
 * said in a note at the end.
 */
export function renderDiffMarkdown(results: EnvironmentDiff[], options: {maxBytes: number}): string {
  const budget = options.maxBytes - NOTE_ROOM
  const summary = ['## pupistry diff', ...results.map(environmentSummary)].join('\n\n')
  const patches = results.flatMap((result) => result.files.filter((file) => file.patch).map((file) => ({file, result})))
  if (bytes(summary) > budget) {
    const kept = cutLines(summary, budget)
    return `${kept}\n\n${note(options.maxBytes, 'the file list is cut short', patches.length)}\n`
  }

  let out = summary
  for (const [index, {file, result}] of patches.entries()) {
    const block = patchBlock(result.environment, file, file.patch ?? '')
    if (bytes(out) + bytes(block) + 2 <= budget) {
      out += `\n\n${block}`
      continue
    }

    const room = budget - bytes(out) - bytes(patchBlock(result.environment, file, '', true)) - 2
    const left = patches.length - index
    if (room < MIN_PART) return `${out}\n\n${note(options.maxBytes, '', left)}\n`
    out += `\n\n${patchBlock(result.environment, file, cutLines(file.patch ?? '', room), true)}`
    return `${out}\n\n${note(options.maxBytes, `the diff of ${file.path} is shown in part`, left - 1)}\n`
  }

  return `${out}\n`
}

function note(maxBytes: number, partly: string, omitted: number): string {
  const parts = [partly, omitted > 0 ? `the diffs of ${omitted} more files are left out` : ''].filter(Boolean)
  return (
    `> **Cut to fit ${maxBytes} bytes:** ${textCell(parts.join('; '))}. ` +
    'Run `pupistry diff` on the build for the whole change.'
  )
}

function environmentSummary(result: EnvironmentDiff): string {
  const built = `\`${shortVersion(result.built)}\``
  const name = `**${textCell(result.environment)}**`
  if (!result.published)
    return `${name}: not published yet; built ${built}\n\n${[modules(result), files(result)].filter(Boolean).join('\n\n')}`
  if (result.published.version === result.built)
    return `${name}: no changes (${built} is live as serial ${result.published.serial})`
  const head = `${name}: published \`${shortVersion(result.published.version)}\` (serial ${result.published.serial}) → built ${built}`
  return [head, modules(result), files(result)].filter(Boolean).join('\n\n')
}

function modules(result: EnvironmentDiff): string {
  if (result.modules.length === 0) return ''
  const rows = result.modules.map((module) => [
    codeCell(module.name),
    module.change,
    module.from ? codeCell(shortRef(module.from)) : '',
    module.to ? codeCell(shortRef(module.to)) : '',
  ])
  return table(['Module', 'Change', 'Published', 'Built'], rows)
}

function files(result: EnvironmentDiff): string {
  const counts = (['added', 'changed', 'removed'] as const)
    .map((kind) => `${result.files.filter((file) => file.change === kind).length} ${kind}`)
    .join(', ')
  if (result.files.length === 0) return `Files: ${counts}`
  const rows = result.files.map((file) => [codeCell(file.path), file.change, lines(file)])
  return `Files: ${counts}\n\n${table(['File', 'Change', 'Lines'], rows)}`
}

function lines(file: FileChange): string {
  if (file.hidden) return 'content not shown (sealed hiera)'
  if (file.binary) return 'binary or large'
  return `+${file.added} −${file.removed}`
}

function patchBlock(environment: string, file: FileChange, patch: string, cut = false): string {
  const label = escapeHtml(printable(`${environment}: ${file.path}`, {oneLine: true}))
  const summary = `<code>${label}</code> +${file.added} −${file.removed}${cut ? ' (cut)' : ''}`
  // The first line is a separator of `=`, meaningless in a block of its own.
  const body = patch.split('\n').slice(1).join('\n')
  return `<details><summary>${summary}</summary>\n\n${fenced(body, 'diff')}\n\n</details>`
}

function escapeHtml(text: string): string {
  return text.replaceAll(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}

/** The longest run of whole lines of the text that fits in `room` bytes. */
function cutLines(text: string, room: number): string {
  const kept: string[] = []
  let used = 0
  for (const line of text.split('\n')) {
    const size = bytes(line) + 1
    if (used + size > room) break
    kept.push(line)
    used += size
  }

  return kept.join('\n')
}
