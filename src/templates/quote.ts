/**
 * Quoting for values that templates put into shell scripts and HCL files.
 * Every value from settings or flags goes through one of these, so a quote,
 * a `$` or a newline in a setting can never turn into code on a node.
 */
import {TemplateError} from '../errors.js'

/** One word for a POSIX shell: single quotes, each `'` written as `'\''`. */
export function shellQuote(value: unknown): string {
  if (value === undefined || value === null) throw new TemplateError('a template quoted a value that is not set')
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new TemplateError(`a template quoted a ${Array.isArray(value) ? 'list' : 'mapping'} as one shell word`)
  }

  const text = String(value)
  if (text.includes('\0')) throw new TemplateError('a value for a shell script contains a NUL byte')
  if (/^[\w@%+=:,./-]+$/.test(text)) return text
  return `'${text.replaceAll("'", `'\\''`)}'`
}

/** A delimiter that stands on no line of the text, so the text cannot end the here-document early. */
function delimiterFor(text: string, base: string): string {
  const lines = new Set(text.split('\n'))
  let delimiter = base
  for (let index = 2; lines.has(delimiter); index++) delimiter = `${base}_${index}`
  return delimiter
}

function withFinalNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`
}

/**
 * A shell here-document with a quoted delimiter: the shell expands nothing
 * in it, so the text arrives byte for byte (with a final newline).
 */
export function shellHeredoc(text: string, base = 'PUPISTRY_EOF'): string {
  const delimiter = delimiterFor(text, base)
  return `<<'${delimiter}'\n${withFinalNewline(text)}${delimiter}`
}

/**
 * An HCL heredoc whose value is exactly the text: `${` and `%{` start
 * template sequences in HCL, so they are doubled.
 */
export function hclHeredoc(text: string, base = 'PUPISTRY_EOF'): string {
  const escaped = withFinalNewline(text)
    .replaceAll('${', () => '$${')
    .replaceAll('%{', '%%{')
  const delimiter = delimiterFor(escaped, base)
  return `<<${delimiter}\n${escaped}${delimiter}`
}

/** Text for a `#` comment line: line breaks would end the comment, so they become spaces. */
export function commentText(value: unknown): string {
  return String(value).replaceAll(/[\r\n]+/g, ' ')
}
