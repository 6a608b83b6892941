import {mkdir, rm} from 'node:fs/promises'

import {downloadArtifact} from '../artifact/download.js'
import type {Store} from '../contracts.js'
import {agentSettingsOf} from '../config/agent-settings.js'
import {NotFoundError, StoreError} from '../errors.js'
import {checkEnvironmentName} from '../format/environment.js'
import type {Manifest} from '../format/manifest.js'
import {type PointerEnvelope, readPointer} from '../format/pointer.js'
import type {Logger, Runtime} from '../runtime.js'
import {ensureSealed, prepareSealed, type SealedStepJob} from '../sealed/agent-step.js'
import {sealedNodeSettings} from '../sealed/node-settings.js'
import {type NodeKeys, nodeKeys} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {abortable, sleep} from '../util/abort.js'
import {formatBytes} from '../util/bytes.js'
import {shortVersion as short} from '../util/version.js'
import {pausePoint} from './pause.js'
import type {PuppetRun} from './puppet.js'
import {type ActiveRelease, Releases} from './releases.js'
import {type RunControl, runPuppetStep, withAgentLock} from './run.js'
import type {EnvironmentState, StateFile} from './state.js'
import {decide, type Verdict} from './trust.js'

export interface ApplyOptions {
  environment?: string
  noop?: boolean
  /** Run Puppet only when something new was installed (or the last run of this version failed). */
  minimal?: boolean
  /** Re-download, re-install and re-apply the newest manifest even if nothing changed. */
  force?: boolean
  /** Accept a manifest with a lower serial than the installed one. */
  allowDowngrade?: boolean
  /** Forget a pin set by `pupistry rollback`, then apply the newest release as usual. */
  unpin?: boolean
  /** Aborted to abandon the run (the agent is stopping): a download or unpack stops at once. */
  signal?: AbortSignal
  /** Aborted to stop a running Puppet (the daemon waits agent.stop_timeout first). */
  stopPuppet?: AbortSignal
}

export interface ApplyResult {
  environment: string
  /** installed: a new release was activated; current: the active release was kept. */
  action: 'installed' | 'current'
  serial?: number
  version?: string
  signedBy?: string
  puppet?: PuppetRun
  /** The active release is pinned by `pupistry rollback`. */
  pinned?: boolean
}

export function agentEnvironment(runtime: Runtime, requested?: string): string {
  return checkEnvironmentName(requested ?? agentSettingsOf(runtime.settings).environment)
}

/**
 * One agent run: check the pointer (one conditional read), verify and
 * install anything new, then run Puppet. Every check happens before a byte
 * of the artifact is unpacked, and any failure leaves the active release as
 * it was.
 */
export async function apply(runtime: Runtime, options: ApplyOptions): Promise<ApplyResult> {
  const environment = agentEnvironment(runtime, options.environment)
  return withAgentLock(runtime, environment, options, (control) => applyLocked(runtime, options, environment, control))
}

async function applyLocked(
  runtime: Runtime,
  options: ApplyOptions,
  environment: string,
  control: RunControl,
): Promise<ApplyResult> {
  const {log} = runtime
  const {signal, stateFile} = control
  // Trust settings are checked on every run, even when nothing new arrives.
  const keys = nodeKeys(runtime)
  const state = options.unpin ? await unpin(runtime, stateFile, environment) : stateFile.environment(environment)
  const agent = agentSettingsOf(runtime.settings)
  const releases = new Releases(agent.releases, agent.puppetcode)
  await releases.cleanLeftovers(environment)
  const active = await releases.active(environment)
  const store = await openStore(runtime, 'agent')

  const pointer = await readNewest(store, environment, {active, force: options.force, signal, state})
  const trust = {
    allowDowngrade: options.allowDowngrade,
    environment,
    keys,
    location: store.location,
    log,
    now: new Date(),
    prefix: store.prefix,
  }
  const verdict = await decide({...trust, pointer, state})
  const result = await act(runtime, verdict, {
    active,
    control,
    environment,
    force: Boolean(options.force),
    keys,
    releases,
    state,
    store,
  })
  stateFile.defer(environment, {lastCheck: new Date().toISOString()})
  if (verdict.expired) log.warn(verdict.expired.message)
  if (!result.version || !(await releases.find(environment, result.version))) {
    throw verdict.expired ?? new NotFoundError(`no release of ${environment} is installed on this node`)
  }

  const needsPuppet = !options.minimal || result.action === 'installed' || state.appliedVersion !== result.version
  if (needsPuppet) {
    await ensureSealedData(runtime, {environment, keys, releases, store, version: result.version})
    const {pinned} = state
    if (result.pinned && pinned)
      log.info(
        `${environment}: pinned to ${short(pinned.version)} by rollback at ${pinned.at}; ` +
          `\`pupistry apply --unpin\` or a new release lifts the pin`,
      )
    result.puppet = await runPuppetStep(runtime, control, {
      environment,
      noop: Boolean(options.noop),
      version: result.version,
    })
  } else {
    log.info(
      `${environment}: up to date (serial ${result.serial}, ${short(result.version)}); --minimal: Puppet not run`,
    )
  }

  if (verdict.expired) throw verdict.expired
  return result
}

/** The environment's pointer: one conditional read while the active release is the one the node accepted (or pinned). */
async function readNewest(
  store: Store,
  environment: string,
  job: {active?: ActiveRelease; force?: boolean; signal: AbortSignal; state: EnvironmentState},
): Promise<PointerEnvelope | {notModified: true}> {
  const {state} = job
  const conditional =
    !job.force && state.etag !== undefined && job.active?.version === (state.pinned?.version ?? state.version)
  const pointer = await abortable(
    readPointer(store, environment, {ifNoneMatch: conditional ? state.etag : undefined}),
    job.signal,
  )
  if (pointer) return pointer
  throw new NotFoundError(`nothing is published for environment ${environment} at ${store.location}`, {
    hint: 'run `pupistry push` on the build side, or check agent.environment',
  })
}

async function unpin(runtime: Runtime, stateFile: StateFile, environment: string): Promise<EnvironmentState> {
  const {pinned} = stateFile.environment(environment)
  if (!pinned) return stateFile.environment(environment)
  runtime.log.info(`${environment}: unpinned ${short(pinned.version)} (pinned by rollback at ${pinned.at})`)
  return stateFile.update(environment, {pinned: undefined})
}

/** Carries out a verdict: installs, or records what a kept pin saw; the state is written only after the change it records. */
async function act(
  runtime: Runtime,
  verdict: Verdict,
  job: {
    active?: ActiveRelease
    control: RunControl
    environment: string
    force: boolean
    releases: Releases
    state: EnvironmentState
    store: Store
    keys: NodeKeys
  },
): Promise<ApplyResult> {
  const {environment, state} = job
  const {stateFile, signal} = job.control
  const {manifest} = verdict
  if (state.pinned && verdict.pin !== 'lifted') {
    if (verdict.action === 'keep' && verdict.etag !== undefined)
      await stateFile.update(environment, {etag: verdict.etag})
    return {action: 'current', environment, pinned: true, serial: state.serial, version: state.pinned.version}
  }

  if (verdict.action !== 'install' || !manifest)
    return {action: 'current', environment, serial: state.serial, version: state.version}
  if (verdict.pin === 'lifted') await stateFile.update(environment, {pinned: undefined})
  signal.throwIfAborted()
  const result = await install(runtime, {...job, manifest, signal, signedBy: verdict.signedBy})
  await stateFile.update(environment, {
    etag: verdict.etag,
    expires: manifest.expires,
    installedAt: result.action === 'installed' ? new Date().toISOString() : state.installedAt,
    serial: manifest.serial,
    version: manifest.version,
  })
  return result
}

/**
 * Makes the manifest's release the active one: reuses a complete release of
 * the same version when there is one (a re-signed or rolled-back manifest
 * needs no download), otherwise downloads, checks, unpacks and commits it.
 */
async function install(
  runtime: Runtime,
  job: {
    active?: ActiveRelease
    control: RunControl
    environment: string
    force: boolean
    manifest: Manifest
    releases: Releases
    signal?: AbortSignal
    signedBy?: string
    store: Store
    keys: NodeKeys
  },
): Promise<ApplyResult> {
  const {environment, manifest, releases} = job
  const result: ApplyResult = {
    action: 'installed',
    environment,
    serial: manifest.serial,
    signedBy: job.signedBy,
    version: manifest.version,
  }
  if (job.active?.version === manifest.version && !job.force) {
    await prepareSealed(sealedJob(runtime, job, job.active.dir, manifest))
    return {...result, action: 'current'}
  }

  let dir = job.force ? undefined : await releases.find(environment, manifest.version)
  if (!dir) {
    runtime.log.info(
      `${environment}: downloading serial ${manifest.serial} (${short(manifest.version)}, ` +
        `${formatBytes(manifest.artifact.size)})`,
    )
    dir = await fetchRelease(job.store, manifest, releases, {log: runtime.log, signal: job.signal})
  }

  await prepareSealed(sealedJob(runtime, job, dir, manifest))
  // The last moment a stopping agent abandons the run: activation and its record are quick and atomic.
  job.signal?.throwIfAborted()
  pausePoint('committed')
  await releases.activate(environment, dir)
  job.control.reached.activated = manifest.version
  pausePoint('activated')
  runtime.log.info(
    `${environment}: activated serial ${manifest.serial} (${short(manifest.version)})${job.signedBy ? `, signed by ${job.signedBy}` : ''}`,
  )
  const removed = await releases.prune(environment, agentSettingsOf(runtime.settings).keepReleases)
  if (removed.length > 0)
    runtime.log.progress(`${environment}: removed old releases ${removed.map((version) => short(version)).join(', ')}`)
  return result
}

/** Download, check, unpack into staging, then commit: any failure leaves nothing behind. */
async function fetchRelease(
  store: Store,
  manifest: Manifest,
  releases: Releases,
  options: {log: Pick<Logger, 'meter'>; signal?: AbortSignal},
): Promise<string> {
  const {signal} = options
  const download = await releases.scratch(manifest.environment, 'download')
  const staging = await releases.scratch(manifest.environment, 'staging')
  try {
    await downloadWithRetries(store, manifest, download, options)
    pausePoint('downloaded')
    await mkdir(staging, {mode: 0o755})
    // tar is loaded (in its thread) only when there is something to unpack: the no-change check stays light.
    const {unpackInThread} = await import('./unpack-thread.js')
    await unpackInThread(
      {dest: staging, file: download, limits: {unpackedSize: manifest.artifact.unpacked_size}},
      signal,
    )
    pausePoint('unpacked')
    signal?.throwIfAborted()
    return await releases.commit(staging, manifest.environment, manifest.version)
  } finally {
    // A cleanup that fails must not hide why the run failed.
    await rm(download, {force: true}).catch(() => {})
    await rm(staging, {force: true, recursive: true}).catch(() => {})
  }
}

const DOWNLOAD_ATTEMPTS = 3

/** A download cut off half-way is tried again from the start; a verification failure never is. */
async function downloadWithRetries(
  store: Store,
  manifest: Manifest,
  file: string,
  options: {log: Pick<Logger, 'meter'>; signal?: AbortSignal},
): Promise<void> {
  const {signal} = options
  for (let attempt = 1; ; attempt++) {
    const meter = options.log.meter(`Downloading ${manifest.environment}`, manifest.artifact.size)
    try {
      return await downloadArtifact(store, manifest, file, {
        onBytes: (bytes) => meter.advance(bytes),
        signal,
        started: () => pausePoint('download'),
      })
    } catch (error) {
      if (!(error instanceof StoreError) || attempt >= DOWNLOAD_ATTEMPTS || signal?.aborted) throw error
      await sleep(250 * 2 ** attempt, signal)
    } finally {
      meter.done()
    }
  }
}

/** The sealed-hiera step's view of a run (src/sealed/agent-step.ts). */
function sealedJob(
  runtime: Runtime,
  job: {environment: string; keys: NodeKeys; releases: Releases; store: Store},
  dir: string,
  manifest: Manifest,
): SealedStepJob & {manifest: Manifest} {
  return {
    environment: job.environment,
    keys: job.keys,
    log: runtime.log,
    manifest,
    releaseDir: job.releases.pathOf(job.environment, dir),
    settings: sealedNodeSettings(runtime.settings),
    store: job.store,
  }
}

/** Sealed data of the active release, materialised again if a reboot emptied the memory filesystem. */
async function ensureSealedData(
  runtime: Runtime,
  job: {environment: string; keys: NodeKeys; releases: Releases; store: Store; version: string},
): Promise<void> {
  const active = await job.releases.active(job.environment)
  if (!active || active.version !== job.version) return
  await ensureSealed({
    environment: job.environment,
    keys: job.keys,
    log: runtime.log,
    releaseDir: job.releases.pathOf(job.environment, active.dir),
    settings: sealedNodeSettings(runtime.settings),
    store: job.store,
    version: job.version,
  })
}
