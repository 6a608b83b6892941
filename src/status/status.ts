import {type EnvironmentState, StateFile} from '../agent/state.js'
import type {ObjectInfo, Store} from '../contracts.js'
import {BuildCache} from '../build/build-cache.js'
import {agentSettingsOf} from '../config/agent-settings.js'
import {Releases} from '../agent/releases.js'
import {PupistryError} from '../errors.js'
import {LAYOUT_ROOT, pointerKey} from '../format/layout.js'
import {readPublished} from '../format/pointer.js'
import type {Provenance} from '../format/provenance.js'
import {provenanceOf} from '../publish/provenance.js'
import type {Runtime} from '../runtime.js'
import {openStore} from '../store/open-store.js'

export interface EnvironmentStatus {
  environment: string
  built?: {version: string; built: string}
  published?: {
    version: string
    serial: number
    created: string
    expires: string | null
    /** A promoted release: where it came from (its manifest's member or its signed provenance record). */
    promotedFrom?: Provenance
  }
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
    /** The installed release came from the Ruby tool's layout (agent.legacy_store). */
    legacy?: boolean
  }
}

export interface StatusReport {
  store?: string
  /** Why the store (the published side) could not be read: a script tells "store down" from "never published". */
  storeError?: string
  /** Why this node's agent state (the installed side) could not be read. */
  stateError?: string
  environments: EnvironmentStatus[]
}

/** Built, published and installed version of every environment this machine knows. */
export async function status(runtime: Runtime, options: {environments?: string[]}): Promise<StatusReport> {
  const cache = new BuildCache(runtime.settings)
  const {puppetcode, releases: releasesDir, stateDir} = agentSettingsOf(runtime.settings)
  const report: StatusReport = {environments: []}
  // Either side failing is reported, not fatal: the other sides still say something true.
  const unreadable = (error: unknown): string => {
    if (!(error instanceof PupistryError)) throw error
    return error.message
  }

  let agent: Record<string, EnvironmentState> = {}
  try {
    agent = (await new StateFile(stateDir).read()).environments
  } catch (error) {
    report.stateError = unreadable(error)
  }

  let store: Store | undefined
  let published: string[] = []
  try {
    store = await openStore(runtime, 'build')
    report.store = store.location
    // Listing also proves the store can be read when no environment is known here yet.
    if (!options.environments) published = publishedEnvironments(await store.list(`${LAYOUT_ROOT}/`))
  } catch (error) {
    report.storeError = unreadable(error)
  }

  const known = [...(await cache.environments()), ...Object.keys(agent), ...published]
  const names = options.environments ?? [...new Set(known)].sort()
  const releases = new Releases(releasesDir, puppetcode)
  for (const environment of names) {
    const entry: EnvironmentStatus = {environment}
    const built = await cache.read(environment)
    if (built) entry.built = {built: built.built, version: built.version}
    // After one failure the store is not asked again: a store that is down would cost a timeout per environment.
    if (store && !report.storeError) {
      try {
        const live = await readPublished(store, environment)
        if (live) {
          const promotedFrom = await provenanceOf(runtime, store, live)
          entry.published = {
            created: live.manifest.created,
            expires: live.manifest.expires,
            ...(promotedFrom ? {promotedFrom} : {}),
            serial: live.manifest.serial,
            version: live.manifest.version,
          }
        }
      } catch (error) {
        report.storeError = unreadable(error)
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
        legacy: state?.legacy,
        pinned: state?.pinned?.version,
        serial: state?.serial,
        version: state?.version,
      }
    }

    report.environments.push(entry)
  }

  return report
}

/** The environments with a pointer among the listed objects. */
function publishedEnvironments(objects: ObjectInfo[]): string[] {
  const names: string[] = []
  for (const {key} of objects) {
    const name = key.split('/')[1]
    if (name && key === pointerKey(name)) names.push(name)
  }

  return names
}
