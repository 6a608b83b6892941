import {agentSettingsOf} from '../config/agent-settings.js'
import {NotFoundError, UsageError} from '../errors.js'
import type {Runtime} from '../runtime.js'
import {checkVersionPrefix, shortVersion as short} from '../util/version.js'
import {releaseHasSealed, restoreSealed} from '../sealed/agent-step.js'
import {sealedNodeSettings} from '../sealed/node-settings.js'
import {nodeKeys} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {agentEnvironment, type ApplyResult, sealedJob} from './apply.js'
import {type ActiveRelease, type KeptRelease, Releases} from './releases.js'
import {writeReport} from './report.js'
import {runPuppetStep, withAgentLock} from './run.js'

export interface RollbackOptions {
  environment?: string
  /** A kept release's version, or a unique prefix of it; default: the release active before this one. */
  to?: string
  noop?: boolean
  signal?: AbortSignal
  stopPuppet?: AbortSignal
}

/**
 * Re-activates a release kept on this node and pins it: `apply` (and the
 * daemon) keep it until `apply --unpin`, or until the store offers a new
 * release: a serial above the newest one the node had accepted, with
 * another version than the one it had accepted (a `push --refresh` of that
 * one keeps the pin). Then Puppet applies it.
 * Nothing is downloaded: only kept releases (agent.keep_releases) qualify.
 */
export async function rollback(runtime: Runtime, options: RollbackOptions): Promise<ApplyResult> {
  const environment = agentEnvironment(runtime, options.environment)
  // A rollback activates and pins even with --noop (only Puppet runs in noop mode): its run is recorded.
  const started = new Date()
  try {
    return await rollbackLocked(runtime, environment, options)
  } finally {
    // Like apply: the fleet sees the node rolled back and pinned (a report that fails is a warning).
    await writeReport(runtime, {environment, started})
  }
}

async function rollbackLocked(runtime: Runtime, environment: string, options: RollbackOptions): Promise<ApplyResult> {
  const {signal, stopPuppet} = options
  return withAgentLock(runtime, environment, {signal, stopPuppet}, async (control) => {
    const {puppetcode, releases: releasesDir} = agentSettingsOf(runtime.settings)
    const releases = new Releases(releasesDir, puppetcode)
    await releases.cleanLeftovers(environment)
    const active = await releases.active(environment)
    const target = chooseRelease(environment, await releases.kept(environment), active, options.to)
    const state = control.stateFile.environment(environment)
    await restoreSealedData(runtime, environment, releases.pathOf(environment, target.dir), target.version)
    await releases.activate(environment, target.dir)
    control.reached.activated = target.version
    const serial = state.serial ?? 0
    // What the store offers (the newest version accepted), which a `push --refresh` signs again: only another version lifts the pin.
    const from = state.pinned?.from ?? state.version ?? active?.version
    await control.stateFile.update(environment, {
      pinned: {at: new Date().toISOString(), from, serial, version: target.version},
    })
    runtime.log.info(
      `${environment}: rolled back from ${short(active?.version)} to ${short(target.version)}; pinned ` +
        `until \`pupistry apply --unpin\` or a new release (a serial above ${serial} with a version other than ${short(from)})`,
    )
    const puppet = await runPuppetStep(runtime, control, {
      environment,
      noop: Boolean(options.noop),
      version: target.version,
    })
    return {action: 'installed', environment, pinned: true, puppet, serial: state.serial, version: target.version}
  })
}

/**
 * The sealed data of the release's own manifest, not the newest one's:
 * restored before the release is activated, so a refusal keeps the active one.
 */
async function restoreSealedData(runtime: Runtime, environment: string, dir: string, version: string): Promise<void> {
  if (!(await releaseHasSealed(sealedNodeSettings(runtime.settings), environment, {dir, version}))) return
  const trust = {environment, keys: nodeKeys(runtime), store: await openStore(runtime, 'agent')}
  await restoreSealed({...sealedJob(runtime, trust, dir), version})
}

function chooseRelease(
  environment: string,
  kept: KeptRelease[],
  active: ActiveRelease | undefined,
  to: string | undefined,
): KeptRelease {
  const listing = kept.map((release) => short(release.version)).join(', ') || 'none'
  if (to === undefined) {
    const previous = kept.find((release) => release.version !== active?.version)
    if (!previous)
      throw new NotFoundError(`no earlier release of ${environment} is kept on this node (kept: ${listing})`, {
        hint: 'agent.keep_releases sets how many are kept',
      })
    return previous
  }

  checkVersionPrefix(to)
  const versions = [
    ...new Set(kept.filter((release) => release.version.startsWith(to)).map((release) => release.version)),
  ]
  if (versions.length > 1)
    throw new UsageError(
      `version ${to} is ambiguous among the kept releases of ${environment}: ${versions.map((version) => short(version)).join(', ')}`,
    )
  if (versions.length === 0)
    throw new NotFoundError(`no release of ${environment} with version ${to} is kept on this node (kept: ${listing})`)
  // Kept releases are newest first: the most recently activated directory of that version.
  return kept.find((release) => release.version === versions[0])!
}
