import {mkdir, rm} from 'node:fs/promises'

import type {Store} from '../contracts.js'
import {DEFAULT_ENVIRONMENT, DEFAULT_KEEP_RELEASES, puppetcode, releasesDir} from '../config/paths.js'
import {ExpiredError, NotFoundError, StoreError, UsageError, VerificationError} from '../errors.js'
import {ENVIRONMENT_PATTERN} from '../manifest/layout.js'
import type {Manifest} from '../manifest/manifest.js'
import {manifestOf, readPointer} from '../publish/pointer.js'
import type {Runtime} from '../runtime.js'
import {loadTrustedKeys, verifyEnvelope} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {shortVersion as short} from '../util/version.js'
import {abortable, sleep} from './abort.js'
import {downloadArtifact} from './download.js'
import {pausePoint} from './pause.js'
import type {PuppetRun} from './puppet.js'
import {type ActiveRelease, Releases} from './releases.js'
import {type RunControl, runPuppetStep, withAgentLock} from './run.js'
import type {EnvironmentState} from './state.js'

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
  const environment = requested ?? runtime.settings.agent.environment ?? DEFAULT_ENVIRONMENT
  if (!ENVIRONMENT_PATTERN.test(environment)) throw new UsageError(`not a Puppet environment name: ${environment}`)
  return environment
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

async function applyLocked(runtime: Runtime, options: ApplyOptions, environment: string, control: RunControl): Promise<ApplyResult> {
  const {log, settings} = runtime
  const {signal, stateFile} = control
  // Trust settings are checked on every run, even when nothing new arrives.
  if (!settings.general.gpg_disable) loadTrustedKeys(runtime)
  let state = (await stateFile.read()).environments[environment] ?? {}
  if (options.unpin && state.pinned) {
    log.info(`${environment}: unpinned ${short(state.pinned.version)} (pinned by rollback at ${state.pinned.at})`)
    state = await stateFile.update(environment, {pinned: undefined})
  }

  let pin = state.pinned
  const releases = new Releases(releasesDir(settings), puppetcode(settings))
  await releases.cleanLeftovers(environment)
  const active = await releases.active(environment)
  const store = await openStore(runtime, 'agent')

  // The cheap path: one conditional read while the active release is the one we installed (or pinned).
  const conditional = !options.force && state.etag !== undefined && active?.version === (pin?.version ?? state.version)
  const pointer = await abortable(readPointer(store, environment, {ifNoneMatch: conditional ? state.etag : undefined}), signal)
  if (!pointer) {
    throw new NotFoundError(`nothing is published for environment ${environment} at ${store.location}`, {
      hint: 'run `pupistry push` on the build side, or check agent.environment',
    })
  }

  let result: ApplyResult = {action: 'current', environment, serial: state.serial, version: state.version}
  // A pinned node runs an older release on purpose: the expiry it remembers is the newest manifest's.
  let expired = 'notModified' in pointer && !pin ? expiryOf(environment, state.serial, state.expires) : undefined
  if ('envelope' in pointer) {
    const trust = await verifyEnvelope(runtime, pointer.envelope, `the manifest of ${environment} at ${store.location}`)
    const signedBy = trust.signed ? `${trust.by.identity} (${trust.by.keyid})` : undefined
    if (!trust.signed) log.warn('general.gpg_disable is true on this node: the manifest signature was NOT checked')
    const manifest = manifestOf(pointer.envelope, pointer.where)
    const manifestExpired = checkManifest(manifest, {allowDowngrade: options.allowDowngrade, environment, prefix: store.prefix, state})
    if (pin && manifest.serial > pin.serial && !manifestExpired) {
      const from = pin.from ?? state.version
      if (manifest.version !== from && manifest.version !== pin.version) {
        log.info(`${environment}: serial ${manifest.serial} is a new release (${short(manifest.version)}); the pin on ${short(pin.version)} (serial ${pin.serial}) is lifted`)
        await stateFile.update(environment, {pinned: undefined})
        pin = undefined
      } else {
        const what = manifest.version === pin.version ? 'the pinned version' : `${short(from)} (the version rolled back from)`
        log.info(`${environment}: serial ${manifest.serial} signs ${what} again; the pin on ${short(pin.version)} stays`)
      }
    }

    if (manifestExpired) {
      expired = manifestExpired
    } else if (pin) {
      await stateFile.update(environment, {etag: pointer.etag})
    } else {
      signal?.throwIfAborted()
      result = await install(runtime, {active, environment, force: Boolean(options.force), manifest, releases, signal, signedBy, store})
      await stateFile.update(environment, {
        etag: pointer.etag,
        expires: manifest.expires,
        installedAt: result.action === 'installed' ? new Date().toISOString() : state.installedAt,
        serial: manifest.serial,
        version: manifest.version,
      })
    }
  }

  if (pin) result = {action: 'current', environment, pinned: true, serial: state.serial, version: pin.version}
  stateFile.defer(environment, {lastCheck: new Date().toISOString()})
  if (expired) log.warn(expired.message)
  if (!result.version || !(await releases.find(environment, result.version))) {
    throw expired ?? new NotFoundError(`no release of ${environment} is installed on this node`)
  }

  const current = (await stateFile.read()).environments[environment] ?? {}
  const needsPuppet = !options.minimal || result.action === 'installed' || current.appliedVersion !== result.version
  if (needsPuppet) {
    if (pin) log.info(`${environment}: pinned to ${short(pin.version)} by rollback at ${pin.at}; \`pupistry apply --unpin\` or a new release lifts the pin`)
    result.puppet = await runPuppetStep(runtime, control, {environment, noop: Boolean(options.noop), version: result.version})
  } else {
    log.info(`${environment}: up to date (serial ${result.serial}, ${short(result.version)}); --minimal: Puppet not run`)
  }

  if (expired) throw expired
  return result
}

function expiryOf(environment: string, serial: number | undefined, expires: string | null | undefined, now = new Date()): ExpiredError | undefined {
  if (!expires || new Date(expires).getTime() > now.getTime()) return undefined
  return new ExpiredError(`${environment}: the newest manifest (serial ${serial}) expired at ${expires}; keeping the installed release`, {
    hint: 'on the build side, `pupistry push --refresh` re-signs what is live with a new expiry',
  })
}

/**
 * Checks a verified manifest against what this node asked for and has:
 * environment, store prefix, serial (no rollback) and expiry. Returns an
 * expiry error instead of throwing it, since the node keeps applying what it has.
 */
export function checkManifest(
  manifest: Manifest,
  expected: {environment: string; prefix: string; state: EnvironmentState; allowDowngrade?: boolean; now?: Date},
): ExpiredError | undefined {
  if (manifest.environment !== expected.environment) {
    throw new VerificationError(`manifest is signed for environment ${manifest.environment}, but this node asked for ${expected.environment}; refused`)
  }

  if (manifest.prefix !== expected.prefix) {
    throw new VerificationError(`manifest was published under store prefix "${manifest.prefix}", not "${expected.prefix}"; refused`)
  }

  const installed = expected.state.serial
  if (installed !== undefined && !expected.allowDowngrade) {
    if (manifest.serial < installed) {
      throw new VerificationError(
        `${manifest.environment}: the store offers serial ${manifest.serial}, older than the installed serial ${installed}; refusing a rollback (--allow-downgrade accepts it)`,
      )
    }

    if (manifest.serial === installed && manifest.version !== expected.state.version) {
      throw new VerificationError(`${manifest.environment}: serial ${installed} now names a different version than the one installed; refused`)
    }
  }

  return expiryOf(manifest.environment, manifest.serial, manifest.expires, expected.now)
}

/**
 * Makes the manifest's release the active one: reuses a complete release of
 * the same version when there is one (a re-signed or rolled-back manifest
 * needs no download), otherwise downloads, checks, unpacks and commits it.
 */
async function install(
  runtime: Runtime,
  job: {active?: ActiveRelease; environment: string; force: boolean; manifest: Manifest; releases: Releases; signal?: AbortSignal; signedBy?: string; store: Store},
): Promise<ApplyResult> {
  const {environment, manifest, releases} = job
  const result: ApplyResult = {action: 'installed', environment, serial: manifest.serial, signedBy: job.signedBy, version: manifest.version}
  if (job.active?.version === manifest.version && !job.force) return {...result, action: 'current'}
  let dir = job.force ? undefined : await releases.find(environment, manifest.version)
  if (!dir) {
    runtime.log.info(`${environment}: downloading serial ${manifest.serial} (${short(manifest.version)}, ${manifest.artifact.size} bytes)`)
    dir = await fetchRelease(job.store, manifest, releases, job.signal)
  }

  // The last moment a stopping agent abandons the run: activation and its record are quick and atomic.
  job.signal?.throwIfAborted()
  pausePoint('committed')
  await releases.activate(environment, dir)
  pausePoint('activated')
  runtime.log.info(`${environment}: activated serial ${manifest.serial} (${short(manifest.version)})${job.signedBy ? `, signed by ${job.signedBy}` : ''}`)
  const removed = await releases.prune(environment, Number(runtime.settings.agent.keep_releases ?? DEFAULT_KEEP_RELEASES))
  if (removed.length > 0) runtime.log.progress(`${environment}: removed old releases ${removed.map((version) => short(version)).join(', ')}`)
  return result
}

/** Download, check, unpack into staging, then commit: any failure leaves nothing behind. */
async function fetchRelease(store: Store, manifest: Manifest, releases: Releases, signal?: AbortSignal): Promise<string> {
  const download = await releases.scratch(manifest.environment, 'download')
  const staging = await releases.scratch(manifest.environment, 'staging')
  try {
    await downloadWithRetries(store, manifest, download, signal)
    pausePoint('downloaded')
    await mkdir(staging, {mode: 0o755})
    // tar is loaded (in its thread) only when there is something to unpack: the no-change check stays light.
    const {unpackInThread} = await import('../artifact/unpack-thread.js')
    await unpackInThread({dest: staging, file: download, limits: {unpackedSize: manifest.artifact.unpacked_size}}, signal)
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
async function downloadWithRetries(store: Store, manifest: Manifest, file: string, signal?: AbortSignal): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadArtifact(store, manifest, file, signal)
    } catch (error) {
      if (!(error instanceof StoreError) || attempt >= DOWNLOAD_ATTEMPTS || signal?.aborted) throw error
      await sleep(250 * 2 ** attempt, signal)
    }
  }
}
