/**
 * Typed errors: one class per kind of failure a user can act on, each with
 * its documented exit code (docs/exit-codes.md). They are thrown where the
 * problem is found and rendered once, by the command base class.
 */
import type {ProviderErrorReason} from './contracts.js'

export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  settings: 10,
  tool: 11,
  assembler: 12,
  store: 13,
  signing: 14,
  notFound: 15,
  disk: 16,
  template: 17,
  agentState: 18,
  partialBuild: 19,
  verification: 20,
  expired: 21,
  locked: 22,
  timedOut: 23,
  stopped: 24,
  sealed: 25,
  validation: 26,
  puppetFailures: 30,
  puppetCouldNotRun: 31,
  unhealthy: 40,
  fleetCheck: 41,
  heldBack: 42,
} as const

export class PupistryError extends Error {
  readonly exitCode: number = EXIT.internal
  /** A next step for the user, printed after the message. */
  readonly hint?: string
  /** Structured detail for `--json` output, beside the message. */
  readonly details?: unknown

  constructor(message: string, options?: {hint?: string; cause?: unknown; details?: unknown}) {
    super(message, options?.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.hint = options?.hint
    this.details = options?.details
  }
}

/**
 * Something that should not happen did: a broken assumption inside pupistry,
 * not anything a user did or can fix. Distinct from the base class, which
 * also covers unexpected failures of the system around it (a file system error).
 */
export class BugError extends PupistryError {
  override readonly exitCode = EXIT.internal

  constructor(what: string, options?: {cause?: unknown}) {
    const hint = 'run again with --verbose and include the output in the report'
    super(`this is a bug in pupistry: ${what}; please report it`, {...options, hint})
  }
}

/** Bad or missing settings, or a settings file that cannot be read. */
export class SettingsError extends PupistryError {
  override readonly exitCode = EXIT.settings
}

/**
 * A file or directory pupistry must use is not accessible to the user it
 * runs as (EACCES, EPERM, a read-only file system). The message names the
 * path and the setting or flag it comes from; the hint says how to fix it.
 */
export class PermissionDeniedError extends SettingsError {}

const PERMISSION_CODES = new Set(['EACCES', 'EPERM', 'EROFS'])

/** True for a file system error that means "not allowed here" (rather than a bug or a full disk). */
export function isPermissionDenied(error: unknown): boolean {
  return PERMISSION_CODES.has((error as NodeJS.ErrnoException)?.code ?? '')
}

/** Wrong use of a command: conflicting flags, unknown template or environment. */
export class UsageError extends PupistryError {
  override readonly exitCode = EXIT.usage
}

/** An external program (r10k, puppet, gpg, git) is missing or unusable. */
export class ToolError extends PupistryError {
  override readonly exitCode = EXIT.tool
}

/** The assembler failed: unreachable remote, bad Puppetfile, failed deploy. */
export class AssemblerError extends PupistryError {
  override readonly exitCode = EXIT.assembler
}

/** Why a store failed, as the store said (the plugin contract's reasons); undefined when it could not tell. */
export type StoreFailureReason = ProviderErrorReason

const STORE_REASONS: Record<StoreFailureReason, true> = {
  conflict: true,
  denied: true,
  invalid: true,
  'not found': true,
  unreachable: true,
}

/** The store failed: unreachable, denied, missing bucket, write conflict. */
export class StoreError extends PupistryError {
  override readonly exitCode = EXIT.store
  readonly reason?: StoreFailureReason

  constructor(message: string, options?: {hint?: string; cause?: unknown; reason?: StoreFailureReason}) {
    super(message, options)
    this.reason = options?.reason
  }
}

/** A signing key could not be read or used. */
export class SigningError extends PupistryError {
  override readonly exitCode = EXIT.signing
}

/** Something asked for does not exist: no build, nothing published. */
export class NotFoundError extends PupistryError {
  override readonly exitCode = EXIT.notFound
}

/** The local disk is full or a file size limit was hit: nothing was activated. */
export class LocalDiskError extends PupistryError {
  override readonly exitCode = EXIT.disk
}

/** A template could not be rendered: it refers to a value or partial that does not exist, or is not valid handlebars. */
export class TemplateError extends PupistryError {
  override readonly exitCode = EXIT.template
}

/** The agent state file cannot be read or is not valid: the node no longer knows the newest serial it accepted. */
export class AgentStateError extends PupistryError {
  override readonly exitCode = EXIT.agentState
}

/**
 * `build`: some environments failed to assemble or pack while the others
 * were packed. Its details list both (`{built, failed}`), so a pipeline can
 * go on and push what built.
 */
export class PartialBuildError extends PupistryError {
  override readonly exitCode = EXIT.partialBuild
}

const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG'])

/** True for errors that mean "no room on the local disk". */
export function isDiskFull(error: unknown): boolean {
  return DISK_CODES.has((error as NodeJS.ErrnoException)?.code ?? '')
}

/** A manifest or artifact failed verification: nothing was unpacked or activated. */
export class VerificationError extends PupistryError {
  override readonly exitCode = EXIT.verification
}

/** Where a check of the built code failed: the file (inside the environment), line and Puppet's or the YAML parser's message. */
export interface ValidationProblem {
  environment: string
  file: string
  line?: number
  message: string
}

/** Built code that Puppet would refuse: it must not reach the store. `details` lists every problem found. */
export class ValidationError extends PupistryError {
  override readonly exitCode = EXIT.validation
  declare readonly details: ValidationProblem[]
}

/** The newest manifest has expired: the node keeps what it has. */
export class ExpiredError extends PupistryError {
  override readonly exitCode = EXIT.expired
}

/**
 * build.hieracrypt cannot say which node reads which data: a Hiera 3 or
 * unreadable hiera.yaml, a non-file backend on protected data, a registry
 * entry that is not exactly right, or an interpolation the registered facts
 * do not resolve. The control repo is what needs fixing.
 */
export class HieraSelectionError extends PupistryError {
  override readonly exitCode = EXIT.assembler
}

/**
 * A node could not get its sealed hiera data (no entry in the index, its key
 * missing, a bundle corrupt, untrusted or from another environment or serial,
 * facts that drifted): Puppet does not run and the previous release stays.
 */
export class SealedDataError extends PupistryError {
  override readonly exitCode = EXIT.sealed
}

/** Another apply holds the lock. */
export class LockedError extends PupistryError {
  override readonly exitCode = EXIT.locked
}

/** A run took longer than agent.run_timeout and was stopped (Puppet's process group killed). */
export class RunTimeoutError extends PupistryError {
  override readonly exitCode = EXIT.timedOut
}

/**
 * A run was interrupted (a signal, or the daemon stopping). Its message
 * names the cause, then what the run left behind: nothing activated, or a
 * release activated with Puppet stopped before finishing. Recorded as the
 * last run (exit 24) so `status --check` reports the node as not converged
 * until a later run completes. The daemon exits 0 after it; a single apply
 * exits 24.
 */
export class StoppedError extends PupistryError {
  override readonly exitCode = EXIT.stopped
}

/** `status --check`: the node has not converged recently, or its last run failed. */
export class UnhealthyError extends PupistryError {
  override readonly exitCode = EXIT.unhealthy
}

/**
 * A node with no release is outside the cohort of a phased (or halted)
 * release and there is no earlier release to install instead: it waits.
 */
export class HeldBackError extends PupistryError {
  override readonly exitCode = EXIT.heldBack
}

/** `fleet --check` or `promote --require-fleet`: the fleet's reports do not meet the threshold given. */
export class FleetCheckError extends PupistryError {
  override readonly exitCode = EXIT.fleetCheck
}

/**
 * `doctor`: one or more checks failed. The exit code is the first failed
 * check's, so it names the kind of thing to fix (settings, tool, store ...).
 */
export class ChecksFailedError extends PupistryError {
  override readonly exitCode: number

  constructor(message: string, exitCode: number, options?: {details?: unknown}) {
    super(message, options)
    this.exitCode = exitCode
  }
}

/** Puppet ran and reported failures (detailed exit code 4 or 6). */
export class PuppetFailedError extends PupistryError {
  override readonly exitCode = EXIT.puppetFailures
}

/** Puppet could not run at all (detailed exit code 1, or it could not start). */
export class PuppetCouldNotRunError extends PupistryError {
  override readonly exitCode = EXIT.puppetCouldNotRun
}

const providerKinds: Record<string, new (message: string, options?: {cause?: unknown}) => PupistryError> = {
  assembler: AssemblerError,
  settings: SettingsError,
  signing: SigningError,
  store: StoreError,
  tool: ToolError,
}

/** Turns an error thrown by a provider into the core's typed error, keeping typed ones. */
export function fromProviderError(
  error: unknown,
  context: string,
  Default: new (message: string, options?: {cause?: unknown}) => PupistryError = PupistryError,
): PupistryError {
  if (error instanceof PupistryError) return error
  const err = error instanceof Error ? error : new Error(String(error))
  const {kind, reason} = err as {kind?: string; reason?: string}
  const Type = (kind && providerKinds[kind]) || Default
  const message = kind ? err.message : `${context}: ${err.message}`
  if (Type === StoreError) {
    const known = reason !== undefined && Object.hasOwn(STORE_REASONS, reason)
    return new StoreError(message, {cause: err, reason: known ? (reason as StoreFailureReason) : undefined})
  }

  return new Type(message, {cause: err})
}
