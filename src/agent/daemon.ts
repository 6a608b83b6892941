import {setImmediate} from 'node:timers/promises'

import {AGENT_DEFAULTS, agentSettingsOf} from '../config/agent-settings.js'
import {PupistryError, StoppedError, StoreError} from '../errors.js'
import type {Runtime} from '../runtime.js'
import {sleep} from '../util/abort.js'
import {agentEnvironment, apply, type ApplyResult} from './apply.js'

export interface DaemonOptions {
  environment?: string
  noop?: boolean
  force?: boolean
  /** --minimal on the command line; agent.daemon_minimal does the same. */
  minimal?: boolean
}

export interface Schedule {
  interval: number
  splay: number
  minimal: boolean
  stopTimeout: number
}

/** The daemon's timing from settings, in seconds. */
export function scheduleOf(runtime: Runtime, options: DaemonOptions = {}): Schedule {
  const agent = agentSettingsOf(runtime.settings)
  return {
    interval: agent.interval,
    minimal: Boolean(options.minimal || agent.minimal),
    splay: agent.splay,
    stopTimeout: agent.stopTimeout,
  }
}

/**
 * How long to wait before the next run. After a run that could not reach
 * the store: exponential backoff from 1/64 of the interval (at least 1 s),
 * capped at the interval, with jitter (a random point in the upper half).
 * Otherwise: the interval plus a random splay, so a fleet spreads out.
 */
export function nextDelay(schedule: Schedule, storeFailures: number, random = Math.random): number {
  if (storeFailures > 0) {
    const base = Math.max(1, schedule.interval / 64)
    const ceiling = Math.min(schedule.interval, base * 2 ** (storeFailures - 1))
    return ceiling / 2 + (random() * ceiling) / 2
  }

  return schedule.interval + random() * schedule.splay
}

interface CurrentRun {
  abandon: AbortController
  stopPuppet: AbortController
}

/**
 * `pupistry apply --daemon`: a thin loop around single runs of apply. Runs
 * never overlap (one at a time here, and the node's lock against other
 * processes); stop() abandons a download or unpack at once and gives a
 * running Puppet agent.stop_timeout to finish; reload() reads the settings
 * again and runs with them.
 */
export class Daemon {
  private stopping = false
  private reloadPending = false
  private current?: CurrentRun
  private stopTimer?: NodeJS.Timeout
  /** Ends the current wait between runs early (stop, reload). */
  private wake = new AbortController()
  private runtime?: Runtime

  constructor(
    private readonly loadRuntime: (reload: boolean) => Promise<Runtime>,
    private readonly options: DaemonOptions,
    /** The line for people about a finished run: presentation stays with the command. */
    private readonly describe: (result: ApplyResult) => string,
  ) {}

  async run(): Promise<void> {
    let runtime = await this.loadRuntime(false)
    this.runtime = runtime
    let environment = agentEnvironment(runtime, this.options.environment)
    const first = scheduleOf(runtime, this.options)
    const {log} = runtime
    if (this.options.noop)
      log.warn('--noop with --daemon: Puppet only reports what it would change, on every run; nothing is ever applied')
    if (this.options.force)
      log.warn(
        '--force with --daemon: every run downloads, installs and applies the newest release again, even when nothing changed',
      )
    log.event({
      environment,
      event: 'daemon-start',
      message:
        `daemon started for ${environment}: every ${first.interval} s (splay up to ` +
        `${round(first.splay)} s)${first.minimal ? ', Puppet only for new releases' : ''}; pid ${process.pid}`,
      pid: process.pid,
    })
    let storeFailures = 0
    await this.wait(Math.random() * first.splay)
    while (!this.stopping) {
      if (this.reloadPending) {
        runtime = await this.reloadSettings(runtime)
        environment = agentEnvironment(runtime, this.options.environment)
        // A stop that came while the settings were read: no run starts. The
        // read is synchronous, so a signal that came meanwhile is handled
        // only when the event loop next polls: two turns of it make sure.
        await setImmediate()
        await setImmediate()
        if (this.stopping) break
      }

      const schedule = scheduleOf(runtime, this.options)
      const outcome = await this.once(runtime, environment, schedule)
      if (this.stopping) break
      // Only a store that does not answer is retried sooner; a denied or misconfigured one keeps the normal schedule.
      if (outcome instanceof StoreError && outcome.reason === 'unreachable') {
        storeFailures++
      } else if (storeFailures > 0) {
        runtime.log.event({
          environment,
          event: 'store-recovered',
          message: `${environment}: the store answers again after ${storeFailures} failed ${storeFailures === 1 ? 'try' : 'tries'}`,
        })
        storeFailures = 0
      }

      const delay = nextDelay(schedule, storeFailures)
      if (storeFailures > 0) {
        runtime.log.event({
          environment,
          event: 'backoff',
          failures: storeFailures,
          level: 'warn',
          message: `${environment}: store unreachable (${storeFailures} in a row); next try in ${round(delay)} s`,
          wait: round(delay),
        })
      }

      await this.wait(delay)
    }

    clearTimeout(this.stopTimer)
    runtime.log.event({environment, event: 'daemon-stop', message: `daemon for ${environment} stopped`})
  }

  /** SIGTERM/SIGINT. A second call stops a running Puppet at once. */
  stop(): void {
    if (this.stopping) {
      this.current?.stopPuppet.abort(new StoppedError('stopped again while Puppet was running'))
      return
    }

    this.stopping = true
    this.wake.abort()
    const run = this.current
    if (!run) return
    run.abandon.abort(new StoppedError('the agent is stopping'))
    const seconds = this.runtime ? scheduleOf(this.runtime, this.options).stopTimeout : AGENT_DEFAULTS.stopTimeout
    this.stopTimer = setTimeout(
      () =>
        run.stopPuppet.abort(
          new StoppedError(`Puppet did not finish within agent.stop_timeout (${seconds} s) after the stop request`),
        ),
      seconds * 1000,
    )
  }

  /** SIGHUP: read the settings file again, and run at once with them (after the current run, if one is under way). */
  reload(): void {
    this.reloadPending = true
    this.wake.abort()
  }

  private async reloadSettings(runtime: Runtime): Promise<Runtime> {
    this.reloadPending = false
    try {
      const fresh = await this.loadRuntime(true)
      // An unusable environment name is a bad reload like any other: the previous settings stay.
      agentEnvironment(fresh, this.options.environment)
      this.runtime = fresh
      fresh.log.event({
        event: 'reload',
        message: `settings read again from ${fresh.settings.file ?? 'the defaults (no file)'}`,
      })
      return fresh
    } catch (error) {
      runtime.log.event({
        event: 'reload-failed',
        level: 'error',
        message: `settings not reloaded, the previous ones stay: ${(error as Error).message}`,
      })
      return runtime
    }
  }

  /** One run; returns its error, or undefined when it succeeded. */
  private async once(runtime: Runtime, environment: string, schedule: Schedule): Promise<unknown> {
    if (this.stopping) return undefined
    const run: CurrentRun = {abandon: new AbortController(), stopPuppet: new AbortController()}
    this.current = run
    const started = Date.now()
    const duration = () => round((Date.now() - started) / 1000)
    try {
      const result = await apply(runtime, {
        environment,
        force: this.options.force,
        minimal: schedule.minimal,
        noop: this.options.noop,
        signal: run.abandon.signal,
        stopPuppet: run.stopPuppet.signal,
      })
      const message = `${this.describe(result)} in ${duration()} s`
      runtime.log.event({...runFields(result), duration: duration(), event: 'run', exitCode: 0, message})
      return undefined
    } catch (error) {
      if (error instanceof StoppedError) {
        runtime.log.event({
          duration: duration(),
          environment,
          event: 'run-stopped',
          level: 'warn',
          message: `${environment}: ${error.message}`,
        })
      } else {
        const exitCode = error instanceof PupistryError ? error.exitCode : 1
        const message = error instanceof Error ? error.message : String(error)
        runtime.log.event({duration: duration(), environment, event: 'run-failed', exitCode, level: 'error', message})
      }

      return error
    } finally {
      this.current = undefined
    }
  }

  private async wait(seconds: number): Promise<void> {
    if (this.reloadPending || this.stopping) return
    this.wake = new AbortController()
    await sleep(seconds * 1000, this.wake.signal).catch(() => {})
  }
}

function runFields(result: ApplyResult): Record<string, unknown> {
  return {
    action: result.action,
    environment: result.environment,
    pinned: result.pinned,
    puppetExit: result.puppet?.exitCode,
    serial: result.serial,
    version: result.version,
  }
}

const round = (seconds: number) => Math.round(seconds * 10) / 10
