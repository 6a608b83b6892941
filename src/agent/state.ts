import {readdir, readFile, rename, rm} from 'node:fs/promises'
import path from 'node:path'

import {AgentStateError, isDiskFull, LocalDiskError} from '../errors.js'
import {TEMP_INFIX, writeAtomically} from '../util/atomic-write.js'
import {pausePoint} from './pause.js'

export interface EnvironmentState {
  /** The newest manifest this node accepted: its serial and version (the active release unless pinned). */
  serial?: number
  version?: string
  /** The pointer's change tag when that manifest was read, for conditional reads. */
  etag?: string
  installedAt?: string
  /** When the installed manifest expires, so an unchanged pointer is still checked for expiry. */
  expires?: string | null
  /** The version whose last real (not --noop) Puppet run succeeded. */
  appliedVersion?: string
  appliedAt?: string
  lastCheck?: string
  lastPuppetExit?: number
  /** The message of the last run's failure; removed by a run that succeeds. */
  lastError?: string
  /** When the last run ended, and its exit code (0 for success). */
  lastRunAt?: string
  lastRunExit?: number
  /**
   * Set by `pupistry rollback`: this release stays active until `apply
   * --unpin`, or until the store offers a new release: a serial above
   * `serial` (the newest serial the node had accepted when it was pinned)
   * whose version is neither `from` (the newest version the node had
   * accepted, the one rolled back from) nor the pinned one. A re-signed
   * `from` (`push --refresh`) keeps the pin. Pins written before `from`
   * existed take `version` of the state as `from`: it is not updated while pinned.
   */
  pinned?: {version: string; serial: number; at: string; from?: string}
  /** The installed release came from the Ruby tool's layout (agent.legacy_store): it has no serial. */
  legacy?: boolean
  /** Ruby-layout versions this node replaced, newest last: not installed again without --allow-downgrade. */
  legacyReplaced?: string[]
}

const STATE_HINT =
  'the state holds the newest serial this node accepted (its protection against replayed older manifests) ' +
  'and rollback pins: inspect the file, then put a repaired copy back as state.json, or remove the ' +
  'moved-aside copy to start afresh (the next run then trusts the newest valid manifest in the store)'

export interface AgentState {
  environments: Record<string, EnvironmentState>
}

const CORRUPT_INFIX = '.corrupt-'

/**
 * The agent's state file: written 0600 in a 0700 directory, replaced
 * atomically. The lock holder loads it once per run (load) and keeps it in
 * memory from then on: only the lock holder writes it.
 */
export class StateFile {
  private readonly deferred = new Map<string, Partial<EnvironmentState>>()
  private loaded?: AgentState

  constructor(readonly dir: string) {}

  get file(): string {
    return path.join(this.dir, 'state.json')
  }

  /**
   * The state; empty when there is no state file yet. A state file that
   * cannot be read or parsed is an error (AgentStateError), never taken for
   * an empty one: that would forget the serial floor that refuses replayed
   * older manifests, and the rollback pins.
   */
  async read(): Promise<AgentState> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {environments: {}}
      throw new AgentStateError(`cannot read the agent state ${this.file}: ${(error as Error).message}`, {
        cause: error,
        hint: STATE_HINT,
      })
    }

    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw new AgentStateError(`the agent state ${this.file} is not valid JSON (${(error as Error).message})`, {
        cause: error,
        hint: STATE_HINT,
      })
    }

    const environments = (parsed as AgentState | null)?.environments
    if (typeof environments !== 'object' || environments === null || Array.isArray(environments)) {
      throw new AgentStateError(`the agent state ${this.file} has no "environments" mapping`, {hint: STATE_HINT})
    }

    return parsed as AgentState
  }

  /**
   * At the start of a run (under the lock): the state, read once. Refuses to
   * run while a state file moved aside as corrupt is there, and moves a state
   * file that cannot be read aside (state.json.corrupt-TIME) before refusing.
   * A run never goes on without the serial floor it had; the operator decides.
   */
  async load(): Promise<AgentState> {
    const corrupt = (await readdir(this.dir).catch(() => [] as string[]))
      .filter((name) => name.startsWith(`${path.basename(this.file)}${CORRUPT_INFIX}`))
      .sort()
    if (corrupt.length > 0) {
      throw new AgentStateError(
        `the agent state was found unreadable and moved to ${path.join(this.dir, corrupt.at(-1)!)}; runs stop until it is dealt with`,
        {hint: STATE_HINT},
      )
    }

    try {
      this.loaded = await this.read()
      return this.loaded
    } catch (error) {
      if (!(error instanceof AgentStateError)) throw error
      const aside = `${this.file}${CORRUPT_INFIX}${new Date().toISOString().replaceAll(':', '')}`
      const moved = await rename(this.file, aside).then(
        () => `it was moved to ${aside}`,
        (renameError: Error) => `it could not be moved aside (${renameError.message})`,
      )
      throw new AgentStateError(`${error.message}; ${moved}. Runs stop until it is dealt with`, {
        cause: error,
        hint: STATE_HINT,
      })
    }
  }

  /**
   * Bookkeeping that needs no write of its own (when the store was last
   * checked): it goes to disk with the run's next update, which every run
   * that is not interrupted makes, so a check costs one durable write.
   */
  defer(environment: string, change: Partial<EnvironmentState>): void {
    this.deferred.set(environment, {...this.deferred.get(environment), ...change})
  }

  /** One environment's state as loaded and updated in this run. */
  environment(environment: string): EnvironmentState {
    return this.loaded?.environments[environment] ?? {}
  }

  async update(environment: string, change: Partial<EnvironmentState>): Promise<EnvironmentState> {
    const current = this.loaded ?? (await this.read())
    const next = {...current.environments[environment], ...this.deferred.get(environment), ...change}
    const state = {...current, environments: {...current.environments, [environment]: next}}
    this.deferred.delete(environment)
    try {
      await writeAtomically(this.file, `${JSON.stringify(state, null, 2)}\n`, {
        beforeRename: () => pausePoint('state'),
        dirMode: 0o700,
        mode: 0o600,
      })
    } catch (error) {
      if (isDiskFull(error))
        throw new LocalDiskError(
          `no room to write the agent state ${this.file} (${(error as Error).message}); it keeps its previous content`,
        )
      throw error
    }

    this.loaded = state
    return next
  }

  /** Removes temporary files of writes that were interrupted (the lock holder calls this). */
  async cleanLeftovers(): Promise<void> {
    const prefix = `${path.basename(this.file)}${TEMP_INFIX}`
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (name.startsWith(prefix)) await rm(path.join(this.dir, name), {force: true})
    }
  }
}
