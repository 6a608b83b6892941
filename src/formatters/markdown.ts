import {printable} from '../util/printable.js'

/**
 * Markdown for pull-request comments and job summaries. Names and contents
 * come from the repository or the store: they are shown as code, never
 * rendered as markup, links or HTML.
 */

/** An inline code span, for a table cell: one line, `|` escaped (tables split on it even inside code). */
export function codeCell(text: string): string {
  const shown = printable(text, {oneLine: true}).replaceAll('|', '\\|')
  const longest = Math.max(0, ...(shown.match(/`+/g) ?? []).map((run) => run.length))
  const ticks = '`'.repeat(longest + 1)
  const pad = shown.startsWith('`') || shown.endsWith('`') ? ' ' : ''
  return `${ticks}${pad}${shown}${pad}${ticks}`
}

/** Plain text for a table cell: markup characters escaped. */
export function textCell(text: string): string {
  return printable(text, {oneLine: true}).replaceAll(/[\\`*_[\]<>|#&]/g, (char) => `\\${char}`)
}

/** A fenced code block that no line of the text can close. */
export function fenced(text: string, language = ''): string {
  const longest = Math.max(2, ...(text.match(/^ {0,3}`+/gm) ?? []).map((run) => run.trim().length))
  const fence = '`'.repeat(longest + 1)
  const body = text
    .replace(/\n$/, '')
    .split('\n')
    .map((line) => printable(line))
  return `${fence}${language}\n${body.join('\n')}\n${fence}`
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}
