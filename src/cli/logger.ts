import type {LogEvent, Logger, LogLevel} from '../runtime.js'
import {printable, printableJson} from '../util/printable.js'
import {createMeter, NO_METER} from './progress.js'
import {colorFor, progressFor} from './terminal.js'

export type {LogEvent, Logger, LogLevel} from '../runtime.js'

export type LogFormat = 'human' | 'json'

const paint = (code: number, text: string) => `\u001B[${code}m${text}\u001B[0m`

/**
 * Messages for people go to stderr, so stdout carries only results (and
 * --json). Colour (warnings, dimmed progress lines) and progress meters are
 * separate decisions (terminal.ts); in a pipe output is plain lines and
 * progress lines only appear with --verbose.
 * With format json every message is one JSON object per line (time, level,
 * event, message and the event's fields), for journald and log shippers.
 */
export function createLogger(
  options: {verbose?: boolean; quiet?: boolean; stream?: NodeJS.WriteStream; format?: LogFormat; json?: boolean} = {},
): Logger {
  const stream = options.stream ?? process.stderr
  const json = options.format === 'json'
  const color = colorFor(stream) && !json
  // --json (options.json) keeps stdout for one object; stderr stays free of redrawn lines too, for scripts.
  const meters = progressFor(stream, {json: json || options.json}) && !options.quiet
  const verbose = Boolean(options.verbose)
  const write = (line: string) => stream.write(`${line}\n`)
  const human = (level: LogLevel, text: string) => {
    const message = printable(text)
    if (level === 'warn' || level === 'error') {
      const line = `${level === 'warn' ? 'warning' : 'error'}: ${message}`
      write(color ? paint(level === 'warn' ? 33 : 31, line) : line)
    } else {
      write(color && level === 'debug' ? paint(2, message) : message)
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
    color,
    meter(label, total) {
      return meters ? createMeter((text) => stream.write(text), printable(label, {oneLine: true}), total) : NO_METER
    },
    progress(message) {
      if (verbose || (stream.isTTY && !json && !options.quiet)) emit({event: 'progress', level: 'debug', message})
    },
    verbose,
    warn(message) {
      emit({event: 'warning', level: 'warn', message})
    },
  }
}
