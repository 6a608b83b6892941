import {mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {isDiskFull, LocalDiskError} from '../errors.js'
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
}

export interface AgentState {
  environments: Record<string, EnvironmentState>
}

const TEMP_INFIX = '.tmp-'

/** The agent's state file: written 0600 in a 0700 directory, replaced atomically. */
export class StateFile {
  constructor(readonly dir: string) {}

  get file(): string {
    return path.join(this.dir, 'state.json')
  }

  async read(): Promise<AgentState> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as AgentState
      return parsed && typeof parsed.environments === 'object' ? parsed : {environments: {}}
    } catch {
      return {environments: {}}
    }
  }

  async update(environment: string, change: Partial<EnvironmentState>): Promise<EnvironmentState> {
    await mkdir(this.dir, {mode: 0o700, recursive: true})
    const state = await this.read()
    const next = {...state.environments[environment], ...change}
    state.environments[environment] = next
    const temp = `${this.file}${TEMP_INFIX}${process.pid}`
    try {
      await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, {mode: 0o600})
      pausePoint('state')
      await rename(temp, this.file)
    } catch (error) {
      await rm(temp, {force: true})
      if (isDiskFull(error)) throw new LocalDiskError(`no room to write the agent state ${this.file} (${(error as Error).message}); it keeps its previous content`)
      throw error
    }

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
