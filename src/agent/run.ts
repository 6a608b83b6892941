import {mkdir, rm, symlink} from 'node:fs/promises'
import path from 'node:path'

import {agentSettingsOf, puppetCommand} from '../config/agent-settings.js'
import {PupistryError, PuppetCouldNotRunError, PuppetFailedError, RunTimeoutError, StoppedError} from '../errors.js'
import type {Runtime} from '../runtime.js'
import {shortVersion} from '../util/version.js'
import {acquireLock} from './lock.js'
import {pausePoint} from './pause.js'
import {pendingNoopEvents, type PuppetRun, runPuppet, stopOrphanedPuppet} from './puppet.js'
import {NOOP_PREFIX} from './releases.js'
import {StateFile} from './state.js'
import {randomHex} from '../util/lazy-node.js'

/** What a run under the lock works with: its state file and the signals that end it early. */
export interface RunControl {
  stateFile: StateFile
  /** Fires when the run is abandoned (stopping, or over its time): no new step starts. */
  signal: AbortSignal
  /** Fires when a running Puppet must be stopped. */
  stopPuppet: AbortSignal
  /** How far the run got, so an interruption can say what it left behind. */
  reached: RunProgress
}

/** Set as the run goes: the version this run activated, and the one Puppet started on. */
export interface RunProgress {
  activated?: string
  puppetOn?: string
  /** A --noop run: whatever it reached, it changed nothing. */
  noop?: boolean
}

/** Where the Puppet a run started is recorded while it runs. */
const puppetRecord = (stateFile: StateFile) => path.join(stateFile.dir, 'puppet.json')

/**
 * The frame of every agent run that changes the node (apply, rollback): one
 * run at a time (the lock), interrupted writes of earlier runs cleaned up,
 * no run on a state file that cannot be read (StateFile.check),
 * a Puppet left running by a pupistry that died stopped (stopOrphanedPuppet),
 * a time limit (agent.run_timeout), and its outcome recorded in the state
 * file for `pupistry status --check`.
 */
export async function withAgentLock<T>(
  runtime: Runtime,
  environment: string,
  options: {signal?: AbortSignal; stopPuppet?: AbortSignal; noop?: boolean},
  work: (control: RunControl) => Promise<T>,
): Promise<T> {
  const agent = agentSettingsOf(runtime.settings)
  const stateFile = new StateFile(agent.stateDir)
  await mkdir(stateFile.dir, {mode: 0o700, recursive: true})
  const lock = await acquireLock(path.join(stateFile.dir, 'apply.lock'))
  const seconds = agent.runTimeout
  const timer = new AbortController()
  const timeout = setTimeout(
    () =>
      timer.abort(
        new RunTimeoutError(
          `${environment}: the run took longer than agent.run_timeout (${seconds} s) and was stopped`,
        ),
      ),
    seconds * 1000,
  )
  const control: RunControl = {
    signal: AbortSignal.any([timer.signal, ...(options.signal ? [options.signal] : [])]),
    reached: {noop: options.noop},
    stateFile,
    stopPuppet: AbortSignal.any([timer.signal, ...(options.stopPuppet ? [options.stopPuppet] : [])]),
  }
  try {
    await stateFile.cleanLeftovers()
    await stateFile.load()
    await stopOrphanedPuppet(puppetRecord(stateFile), (message) => runtime.log.warn(message))
    const result = await work(control)
    // A --noop run applied nothing: the record of the last real run stays what status --check judges.
    if (!options.noop)
      await stateFile.update(environment, {lastError: undefined, lastRunAt: new Date().toISOString(), lastRunExit: 0})
    return result
  } catch (caught) {
    // An interrupted run is recorded like a failed one: the node has not converged until a later run completes.
    const error =
      caught instanceof StoppedError ? new StoppedError(`${caught.message}: ${leftBehind(control.reached)}`) : caught
    if (!options.noop)
      await stateFile
        .update(environment, {
          lastError: error instanceof Error ? error.message : String(error),
          lastRunAt: new Date().toISOString(),
          lastRunExit: error instanceof PupistryError ? error.exitCode : 1,
        })
        .catch(() => {})
    throw error
  } finally {
    clearTimeout(timeout)
    await lock.release()
  }
}

/**
 * Puppet --noop on a release directory: a scratch environment path beside
 * it holds only a link named after the environment, and Puppet's report and
 * summary, so neither the live link nor Puppet's own last-run files (which
 * monitoring reads) change. Pending changes come from the summary.
 */
async function previewPuppet(options: Parameters<typeof runPuppet>[0], release: string): Promise<PuppetRun> {
  const scratch = path.join(path.dirname(release), `${NOOP_PREFIX}${process.pid}-${randomHex(4)}`)
  await mkdir(scratch, {mode: 0o700})
  try {
    await symlink(release, path.join(scratch, options.environment))
    const lastRun = {report: path.join(scratch, 'report.yaml'), summary: path.join(scratch, 'summary.yaml')}
    const run = await runPuppet({...options, lastRun, puppetcode: scratch})
    const pending = await pendingNoopEvents(lastRun.summary)
    return {...run, changes: (pending ?? 0) > 0 || run.changes, noop: true}
  } finally {
    await rm(scratch, {force: true, recursive: true}).catch(() => {})
  }
}

/** What an interrupted run leaves: the stop's cause is said by whoever stopped it, this says the outcome. */
function leftBehind({activated, noop, puppetOn}: RunProgress): string {
  if (noop) return 'a --noop run: nothing was activated or applied, and the node state is unchanged'
  if (puppetOn && activated)
    return `release ${shortVersion(activated)} was activated and Puppet was stopped before it finished applying it`
  if (puppetOn) return `Puppet was stopped before it finished applying the active release ${shortVersion(puppetOn)}`
  if (activated) return `release ${shortVersion(activated)} was activated but Puppet did not run on it`
  return 'the run was abandoned before anything was activated; the active release is unchanged'
}

/**
 * Runs Puppet on the active release and records the outcome: only a
 * successful real (not --noop) run counts as applied, so a failed one is
 * retried by --minimal. A --noop run evaluates `release` (a directory under
 * agent.releases) where it lies, through an environment path of its own,
 * so the live link is never switched for it.
 */
export async function runPuppetStep(
  runtime: Runtime,
  control: RunControl,
  job: {environment: string; version: string; noop: boolean; release?: string},
): Promise<PuppetRun> {
  const {environment, noop} = job
  const {settings} = runtime
  pausePoint('puppet')
  control.signal.throwIfAborted()
  runtime.log.info(`${environment}: running puppet apply${noop ? ' --noop' : ''} on ${shortVersion(job.version)}`)
  control.reached.puppetOn = job.version
  const options = {
    color: runtime.log.color,
    environment,
    noop,
    puppet: puppetCommand(settings),
    puppetcode: agentSettingsOf(settings).puppetcode,
    record: puppetRecord(control.stateFile),
    stop: control.stopPuppet,
  }
  const run = noop && job.release ? await previewPuppet(options, job.release) : await runPuppet(options)
  if (!noop) {
    const current = control.stateFile.environment(environment)
    await control.stateFile.update(environment, {
      appliedAt: run.failures ? current.appliedAt : new Date().toISOString(),
      appliedVersion: run.failures ? undefined : job.version,
      lastPuppetExit: run.exitCode,
    })
  }

  // Puppet stopped because the agent stops or the run is over its time (it traps SIGTERM and exits 1): that is the story to tell.
  if (control.stopPuppet.aborted && (run.signal || run.failures)) throw control.stopPuppet.reason
  if (run.exitCode === 1)
    throw new PuppetCouldNotRunError(
      `puppet apply could not run on ${environment} (${run.signal ? `stopped by ${run.signal}` : 'exit code 1'})`,
    )
  if (run.failures)
    throw new PuppetFailedError(`puppet apply on ${environment} reported failures (exit code ${run.exitCode})`)
  return run
}
