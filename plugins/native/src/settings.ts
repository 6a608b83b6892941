import os from 'node:os'

import type {ProviderSettings} from 'pupistry'

import {failure} from './failure.js'

/** The public Forge API, as r10k's `forge.baseurl` defaults to it. */
export const DEFAULT_FORGE = 'https://forgeapi.puppet.com'

export interface NativeSettings {
  remote: string
  forge: string
  /** How many git or Forge jobs run at once. */
  poolSize: number
}

/** Reads and checks the settings this assembler uses (build.puppetcode, build.forge.baseurl, build.pool_size). */
export function nativeSettings(settings: ProviderSettings): NativeSettings {
  const remote = settings.build.puppetcode
  if (typeof remote !== 'string' || remote === '')
    throw failure('settings', 'build.puppetcode is not set: the URL of your Puppet control repo')

  const forgeSection = settings.build.forge ?? {}
  if (typeof forgeSection !== 'object' || Array.isArray(forgeSection))
    throw failure('settings', 'build.forge must be a section (with baseurl)')
  const baseurl = (forgeSection as Record<string, unknown>).baseurl ?? DEFAULT_FORGE
  if (typeof baseurl !== 'string' || !/^https?:\/\/[^\s/]+/.test(baseurl)) {
    throw failure('settings', `build.forge.baseurl must be an http:// or https:// URL, not ${JSON.stringify(baseurl)}`)
  }

  // Git processes spend most of their time waiting on pipes and disks: a few per core keeps both cores busy.
  const poolSize = settings.build.pool_size ?? Math.max(4, os.availableParallelism() * 4)
  if (typeof poolSize !== 'number' || !Number.isInteger(poolSize) || poolSize < 1) {
    throw failure('settings', `build.pool_size must be a whole number above 0, not ${JSON.stringify(poolSize)}`)
  }

  return {forge: baseurl, poolSize, remote}
}
