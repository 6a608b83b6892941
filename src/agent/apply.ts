import {mkdir, rm, utimes} from 'node:fs/promises'
import path from 'node:path'

import type {Store} from '../contracts.js'
import {agentSettingsOf, puppetCommand} from '../config/agent-settings.js'
import {settingsSource} from '../config/settings.js'
import {HeldBackError, NotFoundError, SettingsError, StoreError, UsageError} from '../errors.js'
import {CHANNEL_PATTERN, STABLE_CHANNEL} from '../format/channel.js'
import {checkEnvironmentName} from '../format/environment.js'
import type {Manifest} from '../format/manifest.js'
import {type PointerEnvelope, readManifestEnvelope, readPointer} from '../format/pointer.js'
import type {Logger, Runtime} from '../runtime.js'
import type {SealedStepJob} from '../sealed/agent-step.js'
import {sealedNodeSettings} from '../sealed/node-settings.js'
import {type NodeKeys, nodeKeys} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {abortable, sleep} from '../util/abort.js'
import {formatBytes} from '../util/bytes.js'
import {shortVersion as short} from '../util/version.js'
import {activateRelease} from './activate.js'
import {
  downloadArtifact,
  ensureSealed,
  isMaterialised,
  prepareSealed,
  previewSealed,
  pruneSealedCache,
} from './later-steps.js'
import type {LegacyJob} from './legacy.js'
import {pausePoint} from './pause.js'
import type {PuppetRun} from './puppet.js'
import {type ActiveRelease, NOOP_PREFIX, Releases} from './releases.js'
import {type RunControl, runPuppetStep, withAgentLock} from './run.js'
import type {EnvironmentState, StateFile} from './state.js'
import {writeReport} from './report.js'
import {rolloutId} from './rollout-id.js'
import {decide, decidePrevious, HELD_BACK_HINT, type Verdict} from './trust.js'
import {randomHex} from '../util/lazy-node.js'

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
  /**
   * installed: a new release was activated; current: the active release was
   * kept; pending (--noop only): a newer release was downloaded and evaluated
   * but not activated.
   */
  action: 'installed' | 'current' | 'pending'
  serial?: number
  version?: string
  signedBy?: string
  puppet?: PuppetRun
  /** The active release is pinned by `pupistry rollback`. */
  pinned?: boolean
  /** Installed from the Ruby tool's layout (agent.legacy_store): it has no serial. */
  legacy?: boolean
  /** pending: only the sealed hiera data is new; the active release's code is the candidate's. */
  sealedOnly?: boolean
}

export function agentEnvironment(runtime: Runtime, requested?: string): string {
  return checkEnvironmentName(requested ?? agentSettingsOf(runtime.settings).environment)
}

/** The channel the node follows: agent.channel, else stable. */
export function agentChannel(runtime: Runtime): string {
  const {channel} = agentSettingsOf(runtime.settings)
  if (channel === undefined) return STABLE_CHANNEL
  if (CHANNEL_PATTERN.test(channel)) return channel
  throw new SettingsError(`agent.channel in ${settingsSource(runtime.settings)}: not a channel name: ${channel}`)
}

/**
 * One agent run: check the pointer (one conditional read), verify and
 * install anything new, then run Puppet. Every check happens before a byte
 * of the artifact is unpacked, and any failure leaves the active release as
 * it was.
 */
export async function apply(runtime: Runtime, options: ApplyOptions): Promise<ApplyResult> {
  const environment = agentEnvironment(runtime, options.environment)
  if (options.noop && options.unpin)
    throw new UsageError('--unpin changes the node, so it cannot be combined with --noop', {
      hint: 'preview with `pupistry apply --noop` first, then run `pupistry apply --unpin`',
    })
  const started = new Date()
  try {
    return await withAgentLock(runtime, environment, options, (control) =>
      applyLocked(runtime, options, environment, control),
    )
  } finally {
    // Every run's outcome, failed or not, goes into the node's fleet report (when it has a report key);
    // a --noop run changes nothing on the node, so it reports nothing either.
    if (!options.noop) await writeReport(runtime, {environment, started})
  }
}

async function applyLocked(
  runtime: Runtime,
  options: ApplyOptions,
  environment: string,
  control: RunControl,
): Promise<ApplyResult> {
  const {log} = runtime
  const {stateFile} = control
  // Trust settings are checked on every run, even when nothing new arrives.
  const keys = nodeKeys(runtime)
  const state = options.unpin ? await unpin(runtime, stateFile, environment) : stateFile.environment(environment)
  const agent = agentSettingsOf(runtime.settings)
  const releases = new Releases(agent.releases, agent.puppetcode)
  await releases.cleanLeftovers(environment)
  const active = await releases.active(environment)
  const job: InstallJob = {active, control, environment, force: Boolean(options.force), keys, releases, state}
  let result: ApplyResult
  let verdict: Verdict | undefined
  let store: Store | undefined
  if (runtime.settings.agent.legacy_store) {
    if (options.noop) {
      throw new UsageError('--noop cannot evaluate a Ruby-layout release (agent.legacy_store) without activating it', {
        hint: "run `pupistry apply --noop` once the node reads pupistry's own layout (docs/migration.md)",
      })
    }

    result = await installLegacyRelease(runtime, {...job, allowDowngrade: options.allowDowngrade})
  } else {
    const newest = await decideNewest(runtime, options, job)
    if (options.noop) return preview(runtime, options, {...job, ...newest})
    ;({store, verdict} = newest)
    result = await act(runtime, verdict, {...job, store})
  }
  stateFile.defer(environment, {lastCheck: new Date().toISOString()})
  if (verdict?.expired) log.warn(verdict.expired.message)
  if (!result.version || !(await releases.find(environment, result.version))) {
    throw verdict?.expired ?? new NotFoundError(`no release of ${environment} is installed on this node`)
  }

  const needsPuppet = !options.minimal || result.action === 'installed' || state.appliedVersion !== result.version
  if (needsPuppet) {
    if (store) await ensureSealedData(runtime, {environment, keys, releases, store, version: result.version})
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

  if (verdict?.expired) throw verdict.expired
  return result
}

/**
 * A --noop run: Puppet evaluates the release a real run would apply, where
 * it lies, without switching the environment link or writing the node's
 * state (serial floor, installed version, pins, last run). A newer release
 * is downloaded, verified and kept, so the next real run only activates it.
 */
async function preview(
  runtime: Runtime,
  options: ApplyOptions,
  job: {
    active?: ActiveRelease
    control: RunControl
    environment: string
    keys: NodeKeys
    releases: Releases
    state: EnvironmentState
    store: Store
    verdict: Verdict
  },
): Promise<ApplyResult> {
  const {active, environment, releases, state, verdict} = job
  const {manifest} = verdict
  const pinKept = Boolean(state.pinned) && verdict.pin !== 'lifted'
  let result: ApplyResult
  let dir: string | undefined
  if (verdict.action === 'install' && manifest && !pinKept && manifest.version !== active?.version) {
    dir = await releases.find(environment, manifest.version)
    if (!dir) {
      runtime.log.info(
        `${environment}: downloading serial ${manifest.serial} (${short(manifest.version)}) for --noop; ` +
          'it is kept for the next run, not activated',
      )
      dir = await fetchRelease(job.store, manifest, releases, {log: runtime.log, signal: job.control.signal})
      // Dated long ago, so `rollback` never takes this never-activated release for an earlier one.
      await utimes(releases.pathOf(environment, dir), 0, 0)
    }

    const {serial, version} = manifest
    result = {action: 'pending', environment, serial, signedBy: verdict.signedBy, version}
  } else {
    dir = active?.dir
    result = {action: 'current', environment, serial: state.serial, version: active?.version}
    if (pinKept) result.pinned = true
  }

  if (verdict.expired) runtime.log.warn(verdict.expired.message)
  if (!dir || !result.version)
    throw verdict.expired ?? new NotFoundError(`no release of ${environment} is installed on this node`)
  const candidate = verdict.action === 'install' && !pinKept ? manifest : undefined
  const sealed = await previewSealedData(runtime, {
    ...job,
    candidate,
    release: releases.pathOf(environment, dir),
    result,
  })
  const version = sealed.pending && candidate ? candidate.version : result.version
  // Only the sealed data is new (same artifact version): the real run would install it, so it is pending.
  if (sealed.pending && candidate)
    result = {
      action: 'pending',
      environment,
      sealedOnly: true,
      serial: candidate.serial,
      signedBy: verdict.signedBy,
      version,
    }

  try {
    if (options.minimal && result.action === 'current' && state.appliedVersion === version) {
      runtime.log.info(`${environment}: up to date (${short(version)}); --minimal: Puppet not run`)
    } else {
      result.puppet = await runPuppetStep(runtime, job.control, {
        environment,
        noop: true,
        release: sealed.release,
        version,
      })
    }
  } finally {
    await sealed.cleanup?.()
  }

  if (verdict.expired) throw verdict.expired
  return result
}

/**
 * What a --noop run evaluates for sealed data: a candidate whose sealed
 * data is not the materialised one is shown through a scratch environment
 * directory with its own unsealed files (the live sealed dir and the
 * release stay as they are); otherwise the release, its live sealed data
 * restored after a reboot. `pending`: only the sealed data is new.
 */
async function previewSealedData(
  runtime: Runtime,
  job: {
    candidate?: Manifest
    environment: string
    keys: NodeKeys
    release: string
    result: ApplyResult
    store: Store
  },
): Promise<{release: string; cleanup?: () => Promise<void>; pending?: boolean}> {
  const {candidate, environment, release, result} = job
  const step = sealedJob(runtime, job, release)
  const ref = candidate?.sealed?.index
  const fresh = ref && (result.action === 'pending' || !(await isMaterialised(step.settings, environment, ref)))
  if (!candidate || !fresh) {
    if (result.action === 'current' && result.version) await ensureSealed({...step, version: result.version})
    return {release}
  }

  const overlayDir = path.join(path.dirname(release), `${NOOP_PREFIX}sealed-${process.pid}-${randomHex(4)}`)
  const {cleanup, dir} = await previewSealed({...step, index: ref, overlayDir, version: candidate.version})
  return {cleanup, pending: result.action === 'current', release: dir}
}

/** The Ruby layout's reader is loaded only on nodes that opted into it. */
async function installLegacyRelease(runtime: Runtime, job: LegacyJob): Promise<ApplyResult> {
  const {installLegacy} = await import('./legacy.js')
  return installLegacy(runtime, job)
}

/** What installing the newest release works with: the node's state, releases and trust, under the run's lock. */
export interface InstallJob {
  active?: ActiveRelease
  control: RunControl
  environment: string
  force: boolean
  keys: NodeKeys
  releases: Releases
  state: EnvironmentState
}

/** Reads the environment's pointer and decides on it. */
async function decideNewest(
  runtime: Runtime,
  options: ApplyOptions,
  job: InstallJob,
): Promise<{store: Store; verdict: Verdict}> {
  const {environment, state} = job
  const channel = agentChannel(runtime)
  const store = await openStore(runtime, 'agent')
  const pointer = await readNewest(store, environment, {...job, channel, signal: job.control.signal})
  const trust = {
    allowDowngrade: options.allowDowngrade,
    channel,
    environment,
    keys: job.keys,
    rolloutId: () => rolloutId(agentSettingsOf(runtime.settings).rolloutId),
    location: store.location,
    log: runtime.log,
    now: new Date(),
    prefix: store.prefix,
  }
  const verdict = await decide({...trust, pointer, state})
  if (!verdict.previous) return {store, verdict}
  const {previous} = verdict
  const stored = await readManifestEnvelope(store, environment, previous.serial)
  if (!stored) {
    throw new HeldBackError(
      `${environment}: serial ${previous.serial}, the release the other nodes keep, is no longer in the store at ` +
        `${store.location}; this node has no release to install yet`,
      {hint: HELD_BACK_HINT},
    )
  }

  return {store, verdict: await decidePrevious({...trust, pointer: stored, state}, {...verdict, previous})}
}

/** The environment's pointer: one conditional read while the active release is the one the node accepted (or pinned). */
async function readNewest(
  store: Store,
  environment: string,
  job: {active?: ActiveRelease; channel: string; force?: boolean; signal: AbortSignal; state: EnvironmentState},
): Promise<PointerEnvelope | {notModified: true}> {
  const {channel, state} = job
  const conditional =
    !job.force && state.etag !== undefined && job.active?.version === (state.pinned?.version ?? state.version)
  const pointer = await abortable(
    readPointer(store, environment, {channel, ifNoneMatch: conditional ? state.etag : undefined}),
    job.signal,
  )
  if (pointer) return pointer
  const where = channel === STABLE_CHANNEL ? '' : ` (channel ${channel})`
  throw new NotFoundError(`nothing is published for environment ${environment}${where} at ${store.location}`, {
    hint: 'run `pupistry push` on the build side, or check agent.environment and agent.channel',
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

  if (verdict.action === 'defer') await recordDeferral(stateFile, environment, verdict)
  if (verdict.action !== 'install' || !manifest)
    return {action: 'current', environment, serial: state.serial, version: state.version}
  if (verdict.pin === 'lifted') await stateFile.update(environment, {pinned: undefined})
  signal.throwIfAborted()
  const result = await install(runtime, {...job, manifest, signal, signedBy: verdict.signedBy})
  await stateFile.update(environment, {
    etag: verdict.etag,
    // A held-back node's release is vouched for by the newest manifest: its expiry is the one to watch.
    expires: verdict.watchExpires === undefined ? manifest.expires : verdict.watchExpires,
    installedAt: result.action === 'installed' ? new Date().toISOString() : state.installedAt,
    legacy: undefined,
    serial: manifest.serial,
    version: manifest.version,
  })
  return result
}

/**
 * A deferred node keeps its serial (its floor) and release, and remembers the
 * pointer's tag and the expiry that now counts for it, so an unchanged
 * pointer costs one conditional read and is not taken for expired.
 */
async function recordDeferral(stateFile: StateFile, environment: string, verdict: Verdict): Promise<void> {
  await stateFile.update(environment, {etag: verdict.etag, expires: verdict.watchExpires})
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
    await prepareSealed({...sealedJob(runtime, job, releases.pathOf(environment, job.active.dir)), manifest})
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

  await prepareSealed({...sealedJob(runtime, job, releases.pathOf(environment, dir)), manifest})
  const signed = job.signedBy ? `, signed by ${job.signedBy}` : ''
  await activateRelease(
    runtime,
    job,
    dir,
    manifest.version,
    `serial ${manifest.serial} (${short(manifest.version)})${signed}`,
  )
  if (manifest.sealed) {
    const kept = (await releases.kept(environment)).map((release) => release.version)
    await pruneSealedCache(sealedNodeSettings(runtime.settings), environment, kept)
  }

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

/** The sealed-hiera step's view of a run (src/sealed/agent-step.ts), for one release directory. */
export function sealedJob(
  runtime: Runtime,
  job: {environment: string; keys: NodeKeys; store: Store},
  releaseDir: string,
): SealedStepJob {
  return {
    environment: job.environment,
    keys: job.keys,
    log: runtime.log,
    puppet: puppetCommand(runtime.settings),
    releaseDir,
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
    ...sealedJob(runtime, job, job.releases.pathOf(job.environment, active.dir)),
    version: job.version,
  })
}
