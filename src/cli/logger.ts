import type {ProviderLogger} from '../contracts.js'

export interface Logger extends ProviderLogger {
  /** Details shown only with --verbose. */
  debug(message: string): void
  readonly tty: boolean
  readonly verbose: boolean
}

const paint = (code: number, text: string) => `\u001B[${code}m${text}\u001B[0m`

/**
 * Messages for people go to stderr, so stdout carries only results (and
 * --json). On a TTY warnings are coloured and progress is shown dimmed; in a
 * pipe output is plain lines and progress only appears with --verbose.
 */
export function createLogger(options: {verbose?: boolean; quiet?: boolean; stream?: NodeJS.WriteStream} = {}): Logger {
  const stream = options.stream ?? process.stderr
  const tty = Boolean(stream.isTTY) && !process.env.NO_COLOR
  const verbose = Boolean(options.verbose)
  const write = (line: string) => stream.write(`${line}\n`)
  return {
    debug(message) {
      if (verbose) write(tty ? paint(2, message) : message)
    },
    info(message) {
      if (!options.quiet) write(message)
    },
    progress(message) {
      if (verbose || (tty && !options.quiet)) write(tty ? paint(2, message) : message)
    },
    tty,
    verbose,
    warn(message) {
      write(tty ? paint(33, `warning: ${message}`) : `warning: ${message}`)
    },
  }
}
