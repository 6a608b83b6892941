import {EXIT, PupistryError, UsageError} from '../errors.js'

/** What `--json` prints for a failure: the error's kind, message, documented exit code and the hint, if any. */
export interface FailureJson {
  name: string
  message: string
  exitCode: number
  hint?: string
  /** Structured detail some errors carry (status --check: the health of each environment). */
  details?: unknown
}

export function describeFailure(error: Error & {oclif?: {exit?: number}}): FailureJson {
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
