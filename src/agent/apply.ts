import {mkdir, rm} from 'node:fs/promises'
import path from 'node:path'

import {unpackArtifact} from '../artifact/unpack.js'
import type {Store} from '../contracts.js'
import {agentStateDir, DEFAULT_ENVIRONMENT, DEFAULT_KEEP_RELEASES, puppetcode, releasesDir} from '../config/paths.js'
import {
  ExpiredError,
  NotFoundError,
  PupistryError,
  PuppetCouldNotRunError,
  PuppetFailedError,
  UsageError,
  VerificationError,
} from '../errors.js'
import {ENVIRONMENT_PATTERN} from '../manifest/layout.js'
import type {Manifest} from '../manifest/manifest.js'
import {type PublishedManifest, readPointer} from '../publish/pointer.js'
import type {Runtime} from '../runtime.js'
import {verifyEnvelope} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {downloadArtifact} from './download.js'
import {acquireLock} from './lock.js'
import {puppetCommand, type PuppetRun, runPuppet} from './puppet.js'
import {Releases} from './releases.js'
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
  const state = (await stateFile.read()).environments[environment] ?? {}
  const releases = new Releases(releasesDir(settings), puppetcode(settings))
  await releases.cleanLeftovers(environment)
  const active = await releases.active(environment)
  const store = await openStore(runtime, 'agent')

  // The cheap path: one conditional read while the active release is the one we installed.
  const conditional = !options.force && state.etag !== undefined && active !== undefined && active === state.version
  const pointer = await readPointer(store, environment, {ifNoneMatch: conditional ? state.etag : undefined})
  if (!pointer) {
    throw new NotFoundError(`nothing is published for environment ${environment} at ${store.location}`, {
      hint: 'run `pupistry push` on the build side, or check agent.environment',
    })
  }

  const checkedAt = new Date().toISOString()
  let result: ApplyResult
  let expired: ExpiredError | undefined
  if ('notModified' in pointer) {
    result = {action: 'current', environment, serial: state.serial, version: state.version}
    await stateFile.update(environment, {lastCheck: checkedAt})
  } else {
    const trust = await verifyEnvelope(runtime, pointer.envelope, `the manifest of ${environment} at ${store.location}`)
    const signedBy = trust.signed ? `${trust.by.identity} (${trust.by.keyid})` : undefined
    if (!trust.signed) log.warn('general.gpg_disable is true on this node: the manifest signature was NOT checked')
    expired = checkManifest(pointer.manifest, {allowDowngrade: options.allowDowngrade, environment, prefix: store.prefix, state})
    if (expired) {
      log.warn(expired.message)
      result = {action: 'current', environment, serial: state.serial, version: state.version}
    } else {
      result = await install(runtime, {active, environment, force: Boolean(options.force), pointer, releases, signedBy, state, stateFile, store})
    }

    await stateFile.update(environment, {lastCheck: checkedAt})
  }

  if (!result.version || !(await releases.exists(environment, result.version))) {
    throw expired ?? new NotFoundError(`no release of ${environment} is installed on this node`)
  }

  const current = (await stateFile.read()).environments[environment] ?? {}
  const needsPuppet = !options.minimal || result.action === 'installed' || options.force || current.appliedVersion !== result.version
  if (needsPuppet) {
    log.info(`${environment}: running puppet apply${options.noop ? ' --noop' : ''} on ${short(result.version)}`)
    const run = await runPuppet({environment, noop: Boolean(options.noop), puppet: puppetCommand(settings.agent.puppet), puppetcode: puppetcode(settings)})
    result.puppet = run
    const succeeded = !run.failures
    await stateFile.update(environment, {
      lastPuppetExit: run.exitCode,
      ...(succeeded && !options.noop ? {appliedAt: new Date().toISOString(), appliedVersion: result.version, lastError: undefined} : {}),
    })
    if (run.exitCode === 1) throw new PuppetCouldNotRunError(`puppet apply could not run on ${environment} (exit code 1)`)
    if (run.failures) throw new PuppetFailedError(`puppet apply on ${environment} reported failures (exit code ${run.exitCode})`)
  } else {
    log.info(`${environment}: up to date (serial ${result.serial}, ${short(result.version)}); --minimal: Puppet not run`)
  }

  if (expired) throw expired
  return result
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

  if (manifest.expires && new Date(manifest.expires).getTime() <= (expected.now ?? new Date()).getTime()) {
    return new ExpiredError(`${manifest.environment}: the newest manifest (serial ${manifest.serial}) expired at ${manifest.expires}; keeping the installed release`, {
      hint: 'on the build side, `pupistry push --refresh` re-signs what is live with a new expiry',
    })
  }

  return undefined
}

async function install(
  runtime: Runtime,
  job: {
    active?: string
    environment: string
    force: boolean
    pointer: PublishedManifest
    releases: Releases
    signedBy?: string
    state: EnvironmentState
    stateFile: StateFile
    store: Store
  },
): Promise<ApplyResult> {
  const {manifest} = job.pointer
  const {environment, releases} = job
  const same = job.active === manifest.version && job.state.serial === manifest.serial
  if (!same || job.force || !(await releases.exists(environment, manifest.version))) {
    if (job.force || !(await releases.exists(environment, manifest.version))) {
      runtime.log.info(`${environment}: downloading serial ${manifest.serial} (${short(manifest.version)}, ${manifest.artifact.size} bytes)`)
      await fetchRelease(job.store, manifest, releases)
    }

    await releases.activate(environment, manifest.version)
    runtime.log.info(`${environment}: activated serial ${manifest.serial} (${short(manifest.version)})${job.signedBy ? `, signed by ${job.signedBy}` : ''}`)
  }

  await job.stateFile.update(environment, {
    etag: job.pointer.etag,
    installedAt: same ? job.state.installedAt : new Date().toISOString(),
    serial: manifest.serial,
    version: manifest.version,
  })
  const removed = await releases.prune(environment, Number(runtime.settings.agent.keep_releases ?? DEFAULT_KEEP_RELEASES))
  if (removed.length > 0) runtime.log.progress(`${environment}: removed old releases ${removed.map(short).join(', ')}`)
  return {action: same && !job.force ? 'current' : 'installed', environment, serial: manifest.serial, signedBy: job.signedBy, version: manifest.version}
}

/** Download, check, unpack into staging, then commit: any failure leaves nothing behind. */
async function fetchRelease(store: Store, manifest: Manifest, releases: Releases): Promise<void> {
  const download = await releases.staging(manifest.environment, 'download')
  const staging = await releases.staging(manifest.environment, 'staging')
  try {
    await downloadArtifact(store, manifest, download)
    await mkdir(staging, {mode: 0o755})
    try {
      unpackArtifact(download, staging, {unpackedSize: manifest.artifact.unpacked_size})
    } catch (error) {
      if (error instanceof PupistryError) throw error
      throw new PupistryError(`cannot unpack ${manifest.artifact.key} into ${staging}: ${(error as Error).message}`, {cause: error})
    }

    await releases.commit(staging, manifest.environment, manifest.version)
  } finally {
    await rm(download, {force: true})
    await rm(staging, {force: true, recursive: true})
  }
}

export function short(version?: string): string {
  return version ? version.slice(0, 12) : 'none'
}
