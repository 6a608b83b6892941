import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {parse} from '../vendor/yaml.js'

import {PUPPET_KILL_GRACE_SECONDS} from '../config/agent-settings.js'
import {PuppetCouldNotRunError, ToolError} from '../errors.js'
import {type ProcessId, signalProcesses, signalTree, startTimeOf, stillRunning, thisProcess} from './process-tree.js'
import {childProcess} from '../util/lazy-node.js'

export interface PuppetRun {
  /** puppet's --detailed-exitcodes status: 0 no changes, 2 changes, 4 failures, 6 both, 1 could not run. */
  exitCode: number
  changes: boolean
  failures: boolean
  /** The signal that stopped Puppet, if one did (then exitCode is 1). */
  signal?: string
  /**
   * A --noop run: `changes` then says whether Puppet had changes pending,
   * read from its run summary (events.noop), because Puppet's exit code is 0
   * in noop mode even when resources are out of sync.
   */
  noop?: boolean
}

const KILL_GRACE_MS = PUPPET_KILL_GRACE_SECONDS * 1000

/**
 * Runs `puppet apply` on an environment with its own modulepath
 * (environment.conf), hiera.yaml and manifests. Arguments are an array:
 * nothing from the store ever reaches a shell.
 *
 * Puppet runs in its own process group, and stopping it (stop) also stops
 * what it started (exec resources, package managers, in sessions of their
 * own): SIGTERM to the group and every descendant, SIGKILL after a grace
 * period, and SIGKILL at once to what is left when Puppet itself has gone.
 */
export function runPuppet(options: {
  puppet: string
  puppetcode: string
  environment: string
  noop: boolean
  /** Puppet colours only where pupistry does (Puppet's own guess ignores NO_COLOR and JSON logs). */
  color: boolean
  stop?: AbortSignal
  record?: string
  /** Where Puppet writes this run's report and summary instead of its own state directory (a --noop run). */
  lastRun?: {report: string; summary: string}
}): Promise<PuppetRun> {
  const manifests = path.join(options.puppetcode, options.environment, 'manifests')
  const args = [
    'apply',
    '--environmentpath',
    options.puppetcode,
    '--environment',
    options.environment,
    '--detailed-exitcodes',
    ...(options.noop ? ['--noop'] : []),
    ...(options.lastRun ? ['--lastrunreport', options.lastRun.report, '--lastrunfile', options.lastRun.summary] : []),
    ...(options.color ? [] : ['--color', 'false']),
    manifests,
  ]
  return new Promise((resolve, reject) => {
    // Puppet's report goes to stderr with our messages: stdout carries only pupistry's result (and --json).
    const child = childProcess().spawn(options.puppet, args, {
      detached: true,
      stdio: ['ignore', process.stderr, 'inherit'],
    })
    let killer: NodeJS.Timeout | undefined
    let stopped: ProcessId[] = []
    if (child.pid && options.record) recordPuppet(options.record, child.pid)
    const signalAll = (signal: NodeJS.Signals) => {
      if (!child.pid) return
      stopped = [...stopped, ...signalTree(child.pid, signal)]
      signalProcesses(stopped, signal)
    }

    const stop = () => {
      signalAll('SIGTERM')
      killer = setTimeout(() => signalAll('SIGKILL'), KILL_GRACE_MS)
    }

    if (options.stop?.aborted) stop()
    else options.stop?.addEventListener('abort', stop, {once: true})
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new ToolError(`puppet is not installed or not on PATH (${options.puppet})`, {
              hint: 'install Puppet or OpenVox, or set agent.puppet',
            })
          : new PuppetCouldNotRunError(`cannot start ${options.puppet}: ${error.message}`),
      )
    })
    child.on('close', (code, signal) => {
      clearTimeout(killer)
      options.stop?.removeEventListener('abort', stop)
      signalProcesses(stopped, 'SIGKILL')
      if (options.record) rmSync(options.record, {force: true})
      // A Puppet killed by a signal did not finish: it counts as a run that could not complete.
      if (signal) return resolve({changes: false, exitCode: 1, failures: true, signal})
      const exitCode = code ?? 1
      resolve({changes: (exitCode & 2) !== 0, exitCode, failures: exitCode === 1 || (exitCode & 4) !== 0})
    })
  })
}

/**
 * Resource events Puppet reported as noop in a run summary (last_run_summary.yaml):
 * the changes a --noop run found pending. Undefined when the summary is missing or unreadable.
 */
export async function pendingNoopEvents(summaryFile: string): Promise<number | undefined> {
  try {
    const summary = parse(await readFile(summaryFile, 'utf8')) as {events?: {noop?: unknown}} | undefined
    const noop = summary?.events?.noop
    return typeof noop === 'number' ? noop : 0
  } catch {
    return undefined
  }
}

/** Who runs Puppet: the Puppet process and the pupistry that started it. */
interface PuppetRecord {
  puppet: ProcessId
  by: ProcessId
}

/** Records a running Puppet, so a later run finds it if this pupistry dies first (kill -9, a crash). */
function recordPuppet(file: string, pid: number): void {
  const started = startTimeOf(pid)
  if (started === undefined) return
  const record: PuppetRecord = {by: thisProcess(), puppet: {pid, started}}
  try {
    writeFileSync(file, `${JSON.stringify(record)}\n`, {mode: 0o600})
  } catch {
    // Without the record only the orphan check of a later run is lost.
  }
}

/**
 * At the start of a run (under the lock): a Puppet recorded by a pupistry
 * that is gone, and still running, is stopped with everything it started
 * (SIGTERM, then SIGKILL after the usual grace), so two Puppets never run
 * at once. Returns the stopped Puppet's pid, or undefined.
 */
export async function stopOrphanedPuppet(file: string, warn: (message: string) => void): Promise<number | undefined> {
  let record: PuppetRecord
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as PuppetRecord
  } catch {
    rmSync(file, {force: true})
    return undefined
  }

  // The pupistry that started it is still alive (outside this lock, so not running an apply): its Puppet is its own business.
  if (record.by?.pid !== process.pid && stillRunning(record.by)) return undefined
  const {puppet} = record
  let stopped: number | undefined
  if (puppet && stillRunning(puppet)) {
    warn(
      `Puppet (pid ${puppet.pid}) started by a pupistry run that is gone (pid ${record.by.pid}) is still ` +
        `running: stopping it and what it started before this run`,
    )
    const tree = signalTree(puppet.pid, 'SIGTERM')
    for (let waited = 0; waited < KILL_GRACE_MS && stillRunning(puppet); waited += 100) await sleep(100)
    if (stillRunning(puppet)) signalTree(puppet.pid, 'SIGKILL')
    signalProcesses(tree, 'SIGKILL')
    stopped = puppet.pid
  }

  rmSync(file, {force: true})
  return stopped
}
