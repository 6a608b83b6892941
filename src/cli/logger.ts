import type {LogEvent, Logger, LogLevel} from '../runtime.js'
import {printable, printableJson} from '../util/printable.js'

export type {LogEvent, Logger, LogLevel} from '../runtime.js'

export type LogFormat = 'human' | 'json'

const paint = (code: number, text: string) => `\u001B[${code}m${text}\u001B[0m`

/**
 * Messages for people go to stderr, so stdout carries only results (and
 * --json). On a TTY warnings are coloured and progress is shown dimmed; in a
 * pipe output is plain lines and progress only appears with --verbose.
 * With format json every message is one JSON object per line (time, level,
 * event, message and the event's fields), for journald and log shippers.
 */
export function createLogger(
  options: {verbose?: boolean; quiet?: boolean; stream?: NodeJS.WriteStream; format?: LogFormat} = {},
): Logger {
  const stream = options.stream ?? process.stderr
  const json = options.format === 'json'
  const tty = Boolean(stream.isTTY) && !process.env.NO_COLOR && !json
  const verbose = Boolean(options.verbose)
  const write = (line: string) => stream.write(`${line}\n`)
  const human = (level: LogLevel, text: string) => {
    const message = printable(text)
    if (level === 'warn' || level === 'error') {
      const line = `${level === 'warn' ? 'warning' : 'error'}: ${message}`
      write(tty ? paint(level === 'warn' ? 33 : 31, line) : line)
    } else {
      write(tty && level === 'debug' ? paint(2, message) : message)
    }
  }

  const emit = (entry: LogEvent) => {
    const level = entry.level ?? 'info'
    if (level === 'info' && options.quiet) return
    if (json) {
      write(printableJson({time: new Date().toISOString(), ...entry, level, message: entry.message}))
    } else {
      human(level, entry.message)
    }
  }

  return {
    debug(message) {
      if (verbose) emit({event: 'debug', level: 'debug', message})
    },
    event: emit,
    info(message) {
      emit({event: 'message', message})
    },
    progress(message) {
      if (verbose || (tty && !options.quiet)) emit({event: 'progress', level: 'debug', message})
    },
    tty,
    verbose,
    warn(message) {
      emit({event: 'warning', level: 'warn', message})
    },
  }
}
