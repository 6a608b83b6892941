import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'

import {PuppetCouldNotRunError, ToolError} from '../errors.js'
import {type ProcessId, processTree, signalProcesses} from './process-tree.js'

export interface PuppetRun {
  /** puppet's --detailed-exitcodes status: 0 no changes, 2 changes, 4 failures, 6 both, 1 could not run. */
  exitCode: number
  changes: boolean
  failures: boolean
  /** The signal that stopped Puppet, if one did (then exitCode is 1). */
  signal?: string
}

const FALLBACK_PUPPET = '/opt/puppetlabs/bin/puppet'

/** `puppet` from settings, PATH, or the puppetlabs packages' location. */
export function puppetCommand(configured?: string | null): string {
  if (configured) return configured
  const onPath = (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(path.join(dir, 'puppet')))
  return !onPath && existsSync(FALLBACK_PUPPET) ? FALLBACK_PUPPET : 'puppet'
}

/** After asking Puppet's process group to stop, how long before it is killed outright. */
const KILL_GRACE_MS = 10_000

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
export function runPuppet(options: {puppet: string; puppetcode: string; environment: string; noop: boolean; stop?: AbortSignal}): Promise<PuppetRun> {
  const manifests = path.join(options.puppetcode, options.environment, 'manifests')
  const args = [
    'apply',
    '--environmentpath',
    options.puppetcode,
    '--environment',
    options.environment,
    '--detailed-exitcodes',
    ...(options.noop ? ['--noop'] : []),
    ...(process.stderr.isTTY ? [] : ['--color', 'false']),
    manifests,
  ]
  return new Promise((resolve, reject) => {
    // Puppet's report goes to stderr with our messages: stdout carries only pupistry's result (and --json).
    const child = spawn(options.puppet, args, {detached: true, stdio: ['ignore', process.stderr, 'inherit']})
    let killer: NodeJS.Timeout | undefined
    let stopped: ProcessId[] = []
    const signalAll = (signal: NodeJS.Signals) => {
      if (!child.pid) return
      stopped = [...stopped, ...processTree(child.pid)]
      try {
        process.kill(-child.pid, signal)
      } catch {
        // The group is gone already.
      }

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
          ? new ToolError(`puppet is not installed or not on PATH (${options.puppet})`, {hint: 'install Puppet or OpenVox, or set agent.puppet'})
          : new PuppetCouldNotRunError(`cannot start ${options.puppet}: ${error.message}`),
      )
    })
    child.on('close', (code, signal) => {
      clearTimeout(killer)
      options.stop?.removeEventListener('abort', stop)
      signalProcesses(stopped, 'SIGKILL')
      // A Puppet killed by a signal did not finish: it counts as a run that could not complete.
      if (signal) return resolve({changes: false, exitCode: 1, failures: true, signal})
      const exitCode = code ?? 1
      resolve({changes: (exitCode & 2) !== 0, exitCode, failures: exitCode === 1 || (exitCode & 4) !== 0})
    })
  })
}
