import {StateFile} from '../agent/state.js'
import {BuildCache} from '../build/build-cache.js'
import {agentSettingsOf} from '../config/agent-settings.js'
import {Releases} from '../agent/releases.js'
import {PupistryError} from '../errors.js'
import {readPublished} from '../format/pointer.js'
import type {Runtime} from '../runtime.js'
import {openStore} from '../store/open-store.js'

export interface EnvironmentStatus {
  environment: string
  built?: {version: string; built: string}
  published?: {version: string; serial: number; created: string; expires: string | null}
  installed?: {
    version?: string
    serial?: number
    active?: string
    appliedVersion?: string
    appliedAt?: string
    lastPuppetExit?: number
    lastCheck?: string
    lastError?: string
    lastRunAt?: string
    lastRunExit?: number
    /** The version `pupistry rollback` pinned, if any. */
    pinned?: string
  }
}

export interface StatusReport {
  store?: string
  storeError?: string
  environments: EnvironmentStatus[]
}

/** Built, published and installed version of every environment this machine knows. */
export async function status(runtime: Runtime, options: {environments?: string[]}): Promise<StatusReport> {
  const cache = new BuildCache(runtime.settings)
  const {puppetcode, releases: releasesDir, stateDir} = agentSettingsOf(runtime.settings)
  const agent = (await new StateFile(stateDir).read()).environments
  const names = options.environments ?? [...new Set([...(await cache.environments()), ...Object.keys(agent)])].sort()
  const releases = new Releases(releasesDir, puppetcode)
  const report: StatusReport = {environments: []}
  let store
  try {
    store = await openStore(runtime, 'build')
    report.store = store.location
  } catch (error) {
    if (!(error instanceof PupistryError)) throw error
    report.storeError = error.message
  }

  for (const environment of names) {
    const entry: EnvironmentStatus = {environment}
    const built = await cache.read(environment)
    if (built) entry.built = {built: built.built, version: built.version}
    if (store) {
      try {
        const live = await readPublished(store, environment)
        if (live)
          entry.published = {
            created: live.manifest.created,
            expires: live.manifest.expires,
            serial: live.manifest.serial,
            version: live.manifest.version,
          }
      } catch (error) {
        if (!(error instanceof PupistryError)) throw error
        report.storeError = error.message
      }
    }

    const state = agent[environment]
    const active = await releases.active(environment)
    if (state || active) {
      entry.installed = {
        active: active?.version,
        appliedAt: state?.appliedAt,
        appliedVersion: state?.appliedVersion,
        lastCheck: state?.lastCheck,
        lastError: state?.lastError,
        lastPuppetExit: state?.lastPuppetExit,
        lastRunAt: state?.lastRunAt,
        lastRunExit: state?.lastRunExit,
        pinned: state?.pinned?.version,
        serial: state?.serial,
        version: state?.version,
      }
    }

    report.environments.push(entry)
  }

  return report
}
