// C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidirectional formatting characters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNSAFE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g

function escapeOne(char: string): string {
  const code = char.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/**
 * Text that came from outside (a store, a plugin, a tool) may carry control
 * characters: an escape sequence can repaint or erase a terminal, a carriage
 * return can hide what came before it, and a bidirectional override can make
 * a line read differently than it is. Everything pupistry prints for people
 * passes through here, so such text shows as visible escapes instead.
 *
 * A newline is kept as a line break but the next line is indented, so text
 * from a store can never start a line that looks like one of pupistry's own
 * (`pupistry: error: …`, `warning: …`); `oneLine` escapes it as well, for
 * table cells and other places where a break would split a record.
 */
export function printable(text: string, options: {oneLine?: boolean} = {}): string {
  const escaped = text.replace(UNSAFE, escapeOne)
  return options.oneLine ? escaped.replaceAll('\n', '\\n').replaceAll('\t', '\\t') : escaped.replaceAll('\n', '\n  ')
}

/**
 * One JSON line whose text cannot disturb a terminal or a log viewer either: JSON.stringify escapes C0
 * controls but leaves DEL, C1 controls and bidirectional overrides raw; those become JSON \u escapes,
 * which read back as the same string.
 */
export function printableJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
