import {type PathSource, permissionDenied} from '../config/path-sources.js'
import {EXIT, isPermissionDenied, PupistryError, StoppedError, UsageError} from '../errors.js'
import {printable} from '../util/printable.js'
import type {Logger} from './logger.js'

/** What `--json` prints for a failure: the error's kind, message, documented exit code and the hint, if any. */
export interface FailureJson {
  name: string
  message: string
  exitCode: number
  hint?: string
  /** Structured detail some errors carry (status --check: the health of each environment). */
  details?: unknown
}

export function describeFailure(error: CliError): FailureJson {
  if (error instanceof PupistryError) {
    const {details, exitCode, hint, message, name} = error
    return {exitCode, message, name, ...(hint === undefined ? {} : {hint}), ...(details === undefined ? {} : {details})}
  }

  // oclif's own errors (a bad flag or argument) are usage errors, as docs/exit-codes.md counts them.
  if (error.oclif) {
    const exitCode = error.oclif.exit ?? EXIT.usage
    return {exitCode, message: error.message, name: exitCode === EXIT.usage ? UsageError.name : error.name}
  }

  return {exitCode: EXIT.internal, message: error.message, name: 'InternalError'}
}

export type CliError = Error & {oclif?: {exit?: number}}

/**
 * The one rendering of a failed command, after any --json object: a JSON log
 * line under --log-format json, else `bin: error: message` and a hint on
 * stderr. Sets the exit code.
 */
export function renderFailure(error: CliError, how: {bin: string; verbose: boolean; jsonLog?: Logger}): void {
  const failure = describeFailure(error)
  process.exitCode = failure.exitCode
  const internal = !(error instanceof PupistryError) && !error.oclif
  const hint =
    internal && !how.verbose ? 'run again with --verbose for details, and report it if it persists' : failure.hint
  const stack = how.verbose && (error instanceof PupistryError || internal) ? error.stack : undefined

  // A log shipper reads every line as JSON, so the last word of a failed run is one more log line.
  if (how.jsonLog) {
    const {exitCode, message, name} = failure
    how.jsonLog.event({
      event: 'error',
      exitCode,
      level: 'error',
      message,
      name,
      ...(hint === undefined ? {} : {hint}),
      ...(stack === undefined ? {} : {stack}),
    })
    return
  }

  const kind = internal ? 'internal error' : 'error'
  process.stderr.write(`${how.bin}: ${kind}: ${printable(error.message)}\n`)
  if (hint) process.stderr.write(`hint: ${printable(hint)}\n`)
  if (stack) process.stderr.write(`${printable(stack)}\n`)
}

/** A thrown error as pupistry reports it: a path this user may not use is named with the setting or flag it comes from. */
export function reportedError(thrown: CliError, paths: () => PathSource[]): CliError {
  return !(thrown instanceof PupistryError) && isPermissionDenied(thrown) ? permissionDenied(thrown, paths()) : thrown
}

const STOPPED_EXIT_GRACE_MS = 2000

/** An interrupted command cleaned up before it threw; a connection a library still holds open must not keep it alive. */
export function exitSoonIfStopped(thrown: Error, exitCode: number): void {
  if (thrown instanceof StoppedError) setTimeout(() => process.exit(exitCode), STOPPED_EXIT_GRACE_MS).unref()
}
