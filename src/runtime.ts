import path from 'node:path'

import type {ProviderContext, ProviderLogger, Side} from './contracts.js'
import {appCache} from './config/paths.js'
import type {Settings} from './config/settings.js'
import type {ProviderRegistry} from './registry/registry.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** One thing that happened, with the fields log shippers index. */
export interface LogEvent {
  event: string
  level?: LogLevel
  message: string
  environment?: string
  version?: string
  serial?: number
  /** Seconds, for events that end something. */
  duration?: number
  /** pupistry's exit code for the run (docs/exit-codes.md). */
  exitCode?: number
  /** puppet apply's --detailed-exitcodes status. */
  puppetExit?: number
  [field: string]: unknown
}

/** Progress of one long transfer or pack, in bytes; shown on a terminal only (docs/settings.md, "Output"). */
export interface Meter {
  advance(bytes: number): void
  /** The work finished: the line is completed (and ends). */
  done(): void
}

export interface Logger extends ProviderLogger {
  /** Details shown only with --verbose. */
  debug(message: string): void
  /** A structured event: its message as a line for people, the whole object as JSON. */
  event(entry: LogEvent): void
  /** A progress meter for work of `total` bytes. */
  meter(label: string, total: number): Meter
  /** Whether messages are coloured; tools pupistry runs (Puppet) are told the same. */
  readonly color: boolean
  readonly verbose: boolean
}

/** What every service needs: settings, providers and a place to talk to the user. */
export interface Runtime {
  settings: Settings
  registry: ProviderRegistry
  log: Logger
  /** The running pupistry's version, recorded in manifests. */
  version: string
  askSecret(question: string): Promise<string | undefined>
}

/** Asks the person at the terminal; without one (as on nodes) there is no answer. */
const noTerminal = async () => undefined

export function createRuntime(parts: Omit<Runtime, 'askSecret'> & {askSecret?: Runtime['askSecret']}): Runtime {
  return {askSecret: noTerminal, ...parts}
}

export function providerContext(runtime: Runtime, side: Side, provider: string): ProviderContext {
  return {
    askSecret: runtime.askSecret,
    cacheDir: path.join(appCache(runtime.settings), 'providers', provider),
    log: runtime.log,
    settings: {
      agent: runtime.settings.agent as Record<string, unknown>,
      build: runtime.settings.build as Record<string, unknown>,
      general: runtime.settings.general as Record<string, unknown>,
    },
    side,
  }
}
