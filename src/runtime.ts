import path from 'node:path'

import type {ProviderContext, Side} from './contracts.js'
import {askSecret} from './cli/ask-secret.js'
import type {Logger} from './cli/logger.js'
import {appCache} from './config/paths.js'
import type {Settings} from './config/settings.js'
import type {ProviderRegistry} from './registry/registry.js'

/** What every service needs: settings, providers and a place to talk to the user. */
export interface Runtime {
  settings: Settings
  registry: ProviderRegistry
  log: Logger
  /** The running pupistry's version, recorded in manifests. */
  version: string
  askSecret(question: string): Promise<string | undefined>
}

export function createRuntime(parts: Omit<Runtime, 'askSecret'> & {askSecret?: Runtime['askSecret']}): Runtime {
  return {askSecret, ...parts}
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
