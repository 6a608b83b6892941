/** What decides how pupistry talks to a terminal: the stream, and the conventions users set in the environment. */
export interface TerminalEnv {
  NO_COLOR?: string
  FORCE_COLOR?: string
  TERM?: string
}

/**
 * Colour follows the common conventions, in the order Node.js itself reads
 * them: FORCE_COLOR (0 or false turn it off) over NO_COLOR (any non-empty
 * value) over TERM=dumb, and otherwise colour only on a terminal.
 */
export function colorFor(stream: {isTTY?: boolean}, env: TerminalEnv = process.env): boolean {
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR)
  if (env.NO_COLOR) return false
  if (env.TERM === 'dumb') return false
  return Boolean(stream.isTTY)
}

/**
 * Progress redraws one line, which only a terminal shows as intended: in a
 * pipe or a log it would be noise, and under --json or with JSON log lines
 * every line must be an object. A dumb terminal cannot redraw either. This
 * is decided apart from colour: NO_COLOR does not hide progress.
 */
export function progressFor(stream: {isTTY?: boolean}, options: {json?: boolean; env?: TerminalEnv} = {}): boolean {
  return Boolean(stream.isTTY) && !options.json && (options.env ?? process.env).TERM !== 'dumb'
}
