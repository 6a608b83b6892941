import {mkdir, rm} from 'node:fs/promises'
import path from 'node:path'

import type {Store} from '../contracts.js'
import {agentStateDir, DEFAULT_ENVIRONMENT, DEFAULT_KEEP_RELEASES, puppetcode, releasesDir} from '../config/paths.js'
import {
  ExpiredError,
  isDiskFull,
  LocalDiskError,
  NotFoundError,
  PupistryError,
  PuppetCouldNotRunError,
  PuppetFailedError,
  StoreError,
  UsageError,
  VerificationError,
} from '../errors.js'
import {ENVIRONMENT_PATTERN} from '../manifest/layout.js'
import type {Manifest} from '../manifest/manifest.js'
import {manifestOf, readPointer} from '../publish/pointer.js'
import type {Runtime} from '../runtime.js'
import {loadTrustedKeys, verifyEnvelope} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {downloadArtifact} from './download.js'
import {acquireLock} from './lock.js'
import {puppetCommand, type PuppetRun, runPuppet} from './puppet.js'
import {type ActiveRelease, Releases} from './releases.js'
import {type EnvironmentState, StateFile} from './state.js'

export interface ApplyOptions {
  environment?: string
  noop?: boolean
  /** Run Puppet only when something new was installed (or the last run of this version failed). */
  minimal?: boolean
  /** Re-download, re-install and re-apply the newest manifest even if nothing changed. */
  force?: boolean
  /** Accept a manifest with a lower serial than the installed one. */
  allowDowngrade?: boolean
}

export interface ApplyResult {
  environment: string
  /** installed: a new release was activated; current: the active release was kept. */
  action: 'installed' | 'current'
  serial?: number
  version?: string
  signedBy?: string
  puppet?: PuppetRun
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
  const stateFile = new StateFile(agentStateDir(runtime.settings))
  await mkdir(stateFile.dir, {mode: 0o700, recursive: true})
  const lock = await acquireLock(path.join(stateFile.dir, 'apply.lock'))
  try {
    return await applyLocked(runtime, options, environment, stateFile)
  } catch (error) {
    await stateFile.update(environment, {lastError: error instanceof Error ? error.message : String(error)}).catch(() => {})
    throw error
  } finally {
    await lock.release()
  }
}

async function applyLocked(runtime: Runtime, options: ApplyOptions, environment: string, stateFile: StateFile): Promise<ApplyResult> {
  const {log, settings} = runtime
  // Trust settings are checked on every run, even when nothing new arrives.
  if (!settings.general.gpg_disable) loadTrustedKeys(runtime)
  const state = (await stateFile.read()).environments[environment] ?? {}
  const releases = new Releases(releasesDir(settings), puppetcode(settings))
  await releases.cleanLeftovers(environment)
  const active = await releases.active(environment)
  const store = await openStore(runtime, 'agent')

  // The cheap path: one conditional read while the active release is the one we installed.
  const conditional = !options.force && state.etag !== undefined && active?.version === state.version
  const pointer = await readPointer(store, environment, {ifNoneMatch: conditional ? state.etag : undefined})
  if (!pointer) {
    throw new NotFoundError(`nothing is published for environment ${environment} at ${store.location}`, {
      hint: 'run `pupistry push` on the build side, or check agent.environment',
    })
  }

  let result: ApplyResult = {action: 'current', environment, serial: state.serial, version: state.version}
  let expired = 'notModified' in pointer ? expiryOf(environment, state.serial, state.expires) : undefined
  if ('envelope' in pointer) {
    const trust = await verifyEnvelope(runtime, pointer.envelope, `the manifest of ${environment} at ${store.location}`)
    const signedBy = trust.signed ? `${trust.by.identity} (${trust.by.keyid})` : undefined
    if (!trust.signed) log.warn('general.gpg_disable is true on this node: the manifest signature was NOT checked')
    const manifest = manifestOf(pointer.envelope, pointer.where)
    expired = checkManifest(manifest, {allowDowngrade: options.allowDowngrade, environment, prefix: store.prefix, state})
    if (!expired) {
      result = await install(runtime, {active, environment, force: Boolean(options.force), manifest, releases, signedBy, store})
      await stateFile.update(environment, {
        etag: pointer.etag,
        expires: manifest.expires,
        installedAt: result.action === 'installed' ? new Date().toISOString() : state.installedAt,
        serial: manifest.serial,
        version: manifest.version,
      })
    }
  }

  await stateFile.update(environment, {lastCheck: new Date().toISOString()})
  if (expired) log.warn(expired.message)
  if (!result.version || !(await releases.find(environment, result.version))) {
    throw expired ?? new NotFoundError(`no release of ${environment} is installed on this node`)
  }

  const current = (await stateFile.read()).environments[environment] ?? {}
  const needsPuppet = !options.minimal || result.action === 'installed' || current.appliedVersion !== result.version
  if (needsPuppet) {
    log.info(`${environment}: running puppet apply${options.noop ? ' --noop' : ''} on ${short(result.version)}`)
    const run = await runPuppet({environment, noop: Boolean(options.noop), puppet: puppetCommand(settings.agent.puppet), puppetcode: puppetcode(settings)})
    result.puppet = run
    if (!options.noop) {
      // Only a successful real run counts as applied; a failed one is retried by --minimal.
      await stateFile.update(environment, {
        appliedAt: run.failures ? current.appliedAt : new Date().toISOString(),
        appliedVersion: run.failures ? undefined : result.version,
        lastError: run.failures ? `puppet apply exited ${run.exitCode}` : undefined,
        lastPuppetExit: run.exitCode,
      })
    }

    if (run.exitCode === 1) throw new PuppetCouldNotRunError(`puppet apply could not run on ${environment} (${run.signal ? `stopped by ${run.signal}` : 'exit code 1'})`)
    if (run.failures) throw new PuppetFailedError(`puppet apply on ${environment} reported failures (exit code ${run.exitCode})`)
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
  job: {active?: ActiveRelease; environment: string; force: boolean; manifest: Manifest; releases: Releases; signedBy?: string; store: Store},
): Promise<ApplyResult> {
  const {environment, manifest, releases} = job
  const result: ApplyResult = {action: 'installed', environment, serial: manifest.serial, signedBy: job.signedBy, version: manifest.version}
  if (job.active?.version === manifest.version && !job.force) return {...result, action: 'current'}
  let dir = job.force ? undefined : await releases.find(environment, manifest.version)
  if (!dir) {
    runtime.log.info(`${environment}: downloading serial ${manifest.serial} (${short(manifest.version)}, ${manifest.artifact.size} bytes)`)
    dir = await fetchRelease(job.store, manifest, releases)
  }

  await releases.activate(environment, dir)
  runtime.log.info(`${environment}: activated serial ${manifest.serial} (${short(manifest.version)})${job.signedBy ? `, signed by ${job.signedBy}` : ''}`)
  const removed = await releases.prune(environment, Number(runtime.settings.agent.keep_releases ?? DEFAULT_KEEP_RELEASES))
  if (removed.length > 0) runtime.log.progress(`${environment}: removed old releases ${removed.map(short).join(', ')}`)
  return result
}

/** Download, check, unpack into staging, then commit: any failure leaves nothing behind. */
async function fetchRelease(store: Store, manifest: Manifest, releases: Releases): Promise<string> {
  const download = await releases.scratch(manifest.environment, 'download')
  const staging = await releases.scratch(manifest.environment, 'staging')
  try {
    await downloadWithRetries(store, manifest, download)
    await mkdir(staging, {mode: 0o755})
    // tar is loaded only when there is something to unpack: the no-change check stays light.
    const {unpackArtifact} = await import('../artifact/unpack.js')
    try {
      unpackArtifact(download, staging, {unpackedSize: manifest.artifact.unpacked_size})
    } catch (error) {
      if (error instanceof PupistryError) throw error
      if (isDiskFull(error)) throw new LocalDiskError(`no room to unpack ${manifest.artifact.key} into ${staging} (${(error as Error).message})`)
      throw new PupistryError(`cannot unpack ${manifest.artifact.key} into ${staging}: ${(error as Error).message}`, {cause: error})
    }

    return await releases.commit(staging, manifest.environment, manifest.version)
  } finally {
    await rm(download, {force: true})
    await rm(staging, {force: true, recursive: true})
  }
}

const DOWNLOAD_ATTEMPTS = 3

/** A download cut off half-way is tried again from the start; a verification failure never is. */
async function downloadWithRetries(store: Store, manifest: Manifest, file: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadArtifact(store, manifest, file)
    } catch (error) {
      if (!(error instanceof StoreError) || attempt >= DOWNLOAD_ATTEMPTS) throw error
      await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt))
    }
  }
}

export function short(version?: string): string {
  return version ? version.slice(0, 12) : 'none'
}
