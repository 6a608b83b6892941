import os from 'node:os'

import type {ProviderSettings} from 'pupistry'

import {failure} from './failure.js'

/** The public Forge API, as r10k's `forge.baseurl` defaults to it. */
export const DEFAULT_FORGE = 'https://forgeapi.puppet.com'

export interface NativeSettings {
  remote: string
  forge: string
  /** How many checkouts and unpacks run at once (work for the CPU and the disk). */
  poolSize: number
  /** How many remotes and Forge downloads are worked on at once: they mostly wait on the network. */
  remotePoolSize: number
}

/** Remote work waits on the network (and on the remote's own processes): it gets this many times the pool. */
const REMOTE_FACTOR = 4

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

  // A checkout waits on the disk part of the time: a few per core keeps every core busy.
  const poolSize = settings.build.pool_size ?? Math.max(4, os.availableParallelism() * 4)
  if (typeof poolSize !== 'number' || !Number.isInteger(poolSize) || poolSize < 1) {
    throw failure('settings', `build.pool_size must be a whole number above 0, not ${JSON.stringify(poolSize)}`)
  }

  return {forge: baseurl, poolSize, remote, remotePoolSize: poolSize * REMOTE_FACTOR}
}
