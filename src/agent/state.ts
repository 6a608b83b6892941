import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import {writeAtomically} from '../build/build-cache.js'

export interface EnvironmentState {
  /** The release that is active: its manifest's serial and version. */
  serial?: number
  version?: string
  /** The pointer's change tag when that release was installed, for conditional reads. */
  etag?: string
  installedAt?: string
  /** When the installed manifest expires, so an unchanged pointer is still checked for expiry. */
  expires?: string | null
  /** The version whose last real (not --noop) Puppet run succeeded. */
  appliedVersion?: string
  appliedAt?: string
  lastCheck?: string
  lastPuppetExit?: number
  lastError?: string
}

export interface AgentState {
  environments: Record<string, EnvironmentState>
}

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
    await writeAtomically(this.file, `${JSON.stringify(state, null, 2)}\n`, 0o600)
    return next
  }
}
