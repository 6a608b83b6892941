import type {ProviderLogger} from '../contracts.js'
import {ExpiredError, HeldBackError, VerificationError} from '../errors.js'
import {channelOf, STABLE_CHANNEL} from '../format/channel.js'
import {type Manifest, manifestOf} from '../format/manifest.js'
import type {PointerEnvelope} from '../format/pointer.js'
import {inCohort} from '../format/rollout.js'
import {checkEnvelope, type NodeKeys} from '../signing/signing.js'
import {shortVersion as short} from '../util/version.js'
import type {EnvironmentState} from './state.js'

/** Everything a node decides with: what the store offers, and what the node has and asked for. */
export interface TrustInput {
  /** The environment's pointer as read (unverified), or unchanged since the change tag in `state`. */
  pointer: PointerEnvelope | {notModified: true}
  keys: NodeKeys
  environment: string
  /** The channel the node follows (agent.channel); stable when absent. */
  channel?: string
  /** This node's id for phased rollouts (agent.rollout_id or the machine id); asked only for a manifest that phases. */
  rolloutId?: () => string
  /** The store prefix the manifest must have been published under. */
  prefix: string
  /** The store's location, for messages. */
  location: string
  state: EnvironmentState
  /** Accept a serial below the installed one (`--allow-downgrade`). */
  allowDowngrade?: boolean
  now: Date
  log: Pick<ProviderLogger, 'info' | 'warn'>
}

/**
 * What the node does. install: activate the manifest's release. keep: the
 * active release stays (unchanged pointer, or a pin that stays). expired: it
 * stays, and the run ends with `expired` (after Puppet) so monitoring sees it.
 * defer: the manifest rolls out to a share of nodes this node is not in
 * yet; the active release stays and the run succeeds.
 */
export interface Verdict {
  action: 'install' | 'keep' | 'expired' | 'defer'
  /** The verified manifest, when the pointer was read. */
  manifest?: Manifest
  /** Who signed it: "identity (keyid)"; absent when gpg_disable skipped the check. */
  signedBy?: string
  /** The pointer's change tag, for the next conditional read. */
  etag?: string
  /** A rollback pin: none (the node has none), kept, or lifted by a genuinely new release. */
  pin: 'none' | 'kept' | 'lifted'
  expired?: ExpiredError
  /** With defer (and install of a rollout's previous release): the expiry the node checks while the pointer is unchanged. */
  watchExpires?: string | null
  /**
   * With defer, on a node with no release: the release the other nodes
   * keep, which it installs from that release's own signed manifest (decidePrevious).
   */
  previous?: {serial: number; version: string}
}

/**
 * The node's one decision about what the store offers, read top to bottom
 * like python-tuf's Updater.refresh(): signature, payload type and schema,
 * environment and prefix binding, serial floor, expiry, pin. It reads no
 * store and no file; a refusal is a typed error, thrown.
 */
export async function decide(input: TrustInput): Promise<Verdict> {
  const {pointer, state} = input
  if ('notModified' in pointer) {
    // A pinned node runs an older release on purpose: the expiry it remembers is the newest manifest's.
    const expired = state.pinned ? undefined : expiryOf(input.environment, state.serial, state.expires, input.now)
    return expired ? {action: 'expired', expired, pin: 'none'} : {action: 'keep', pin: state.pinned ? 'kept' : 'none'}
  }

  const signedBy = await checkSignature(pointer, input)
  const manifest = manifestOf(pointer.envelope, pointer.where)
  checkBinding(manifest, input)
  checkSerial(manifest, input)
  const expired = expiryOf(manifest.environment, manifest.serial, manifest.expires, input.now)
  if (expired) return {action: 'expired', expired, manifest, pin: state.pinned ? 'kept' : 'none', signedBy}
  const deferral = rolloutDecision(manifest, input)
  if (deferral) return {...deferral, etag: pointer.etag, manifest, pin: state.pinned ? 'kept' : 'none', signedBy}
  const pin = pinDecision(manifest, input)
  return {action: pin === 'kept' ? 'keep' : 'install', etag: pointer.etag, manifest, pin, signedBy}
}

async function checkSignature(pointer: PointerEnvelope, input: TrustInput): Promise<string | undefined> {
  const trust = await checkEnvelope(
    pointer.envelope,
    `the manifest of ${input.environment} at ${input.location}`,
    input.keys,
    input.channel ?? STABLE_CHANNEL,
  )
  if (trust.signed) return `${trust.by.identity} (${trust.by.keyid})`
  input.log.warn('general.gpg_disable is true on this node: the manifest signature was NOT checked')
  return undefined
}

/** A manifest signed for staging, copied onto production's pointer (or another store's), is refused. */
function checkBinding(manifest: Manifest, expected: TrustInput): void {
  if (manifest.environment !== expected.environment) {
    throw new VerificationError(
      `manifest is signed for environment ${manifest.environment}, but this node asked for ${expected.environment}; refused`,
    )
  }

  if (manifest.prefix !== expected.prefix) {
    throw new VerificationError(
      `manifest was published under store prefix "${manifest.prefix}", not "${expected.prefix}"; refused`,
    )
  }

  const channel = expected.channel ?? STABLE_CHANNEL
  if (channelOf(manifest) !== channel) {
    throw new VerificationError(
      `manifest is signed for channel ${channelOf(manifest)} of ${manifest.environment}, but this node follows ` +
        `channel ${channel}; refused`,
    )
  }
}

/**
 * A phased rollout: a node outside the cohort keeps its release. It is not
 * expired while it runs the release the manifest names as the previous one
 * (the newest manifest vouches for it); running anything else, its own
 * manifest's expiry still counts. A node with no release installs at once:
 * it has nothing to keep.
 */
function rolloutDecision(
  manifest: Manifest,
  input: TrustInput,
): Pick<Verdict, 'action' | 'expired' | 'watchExpires'> | undefined {
  const {rollout, environment, serial, version} = manifest
  const {state} = input
  if (!rollout || state.version === version) return undefined
  if (!input.rolloutId)
    throw new VerificationError(`${environment}: serial ${serial} is a phased rollout, but this node has no rollout id`)
  if (inCohort(version, input.rolloutId(), rollout.percent)) return undefined
  if (state.version === undefined) return heldBack(manifest, input)
  input.log.info(
    `${environment}: serial ${serial} (${short(version)}) rolls out to ${rollout.percent} % of nodes and this node ` +
      `is not among them yet; keeping serial ${state.serial} (${short(state.version)})`,
  )
  if (rollout.previous?.version === state.version) return {action: 'defer', watchExpires: manifest.expires}
  const expired = expiryOf(environment, state.serial, state.expires, input.now)
  return expired ? {action: 'expired', expired} : {action: 'defer', watchExpires: state.expires}
}

export const HELD_BACK_HINT =
  'widen the rollout (`pupistry push --refresh --rollout N`), or give this node another agent.rollout_id'

/**
 * A node with no release outside the cohort: halted (or phasing) means it
 * does not take the new release either, so it takes the one the others
 * keep, the manifest's previous release.
 */
function heldBack(manifest: Manifest, input: TrustInput): Pick<Verdict, 'action' | 'previous' | 'watchExpires'> {
  const {rollout, environment, serial, version} = manifest
  const previous = rollout?.previous
  const where = `${environment}: serial ${serial} (${short(version)}) rolls out to ${rollout?.percent} % of nodes`
  if (!previous) {
    throw new HeldBackError(
      `${where} and this node, which has no release yet, is not among them; the rollout names no earlier ` +
        'release to install instead',
      {hint: HELD_BACK_HINT},
    )
  }

  input.log.info(
    `${where} and this node is not among them; it has no release yet, so it installs serial ${previous.serial} ` +
      `(${short(previous.version)}), the release the other nodes keep`,
  )
  return {action: 'defer', previous, watchExpires: manifest.expires}
}

/**
 * The previous release a held-back node installs (see heldBack), from its
 * own manifest in the store's history: the same signature, payload and
 * binding checks as the pointer, and it must be exactly the serial and
 * version the newest manifest names. Its own expiry does not count: the
 * newest manifest vouches for it, and its expiry is the one the node watches.
 */
export async function decidePrevious(
  input: TrustInput & {pointer: PointerEnvelope},
  newest: Verdict & {previous: {serial: number; version: string}},
): Promise<Verdict> {
  const signedBy = await checkSignature(input.pointer, input)
  const manifest = manifestOf(input.pointer.envelope, input.pointer.where)
  checkBinding(manifest, input)
  const {previous} = newest
  if (manifest.serial !== previous.serial || manifest.version !== previous.version) {
    throw new VerificationError(
      `${manifest.environment}: the manifest stored as serial ${previous.serial} is serial ${manifest.serial} ` +
        `(${short(manifest.version)}), not the release the newest manifest names (${short(previous.version)}); refused`,
    )
  }

  return {action: 'install', etag: newest.etag, manifest, pin: 'none', signedBy, watchExpires: newest.watchExpires}
}

/** No rollback unless asked: a lower serial is a replay, and one serial never names two versions. */
function checkSerial(manifest: Manifest, input: TrustInput): void {
  const installed = input.state.serial
  if (installed === undefined || input.allowDowngrade) return
  if (manifest.serial < installed) {
    throw new VerificationError(
      `${manifest.environment}: the store offers serial ${manifest.serial}, older than the installed ` +
        `serial ${installed}; refusing a rollback (--allow-downgrade accepts it)`,
    )
  }

  if (manifest.serial === installed && manifest.version !== input.state.version) {
    throw new VerificationError(
      `${manifest.environment}: serial ${installed} now names a different version than the one installed; refused`,
    )
  }
}

/**
 * A pin set by `pupistry rollback` stays until the store offers a genuinely
 * new release: a serial above the pinned one whose version is neither the
 * pinned one nor `from` (the one rolled back from, which `push --refresh` may
 * sign again).
 */
function pinDecision(manifest: Manifest, input: TrustInput): Verdict['pin'] {
  const pin = input.state.pinned
  if (!pin) return 'none'
  if (manifest.serial <= pin.serial) return 'kept'
  const from = pin.from ?? input.state.version
  const {environment, serial, version} = manifest
  if (version !== from && version !== pin.version) {
    input.log.info(
      `${environment}: serial ${serial} is a new release (${short(version)}); the pin on ` +
        `${short(pin.version)} (serial ${pin.serial}) is lifted`,
    )
    return 'lifted'
  }

  const what = version === pin.version ? 'the pinned version' : `${short(from)} (the version rolled back from)`
  input.log.info(`${environment}: serial ${serial} signs ${what} again; the pin on ${short(pin.version)} stays`)
  return 'kept'
}

function expiryOf(
  environment: string,
  serial: number | undefined,
  expires: string | null | undefined,
  now: Date,
): ExpiredError | undefined {
  if (!expires || new Date(expires).getTime() > now.getTime()) return undefined
  return new ExpiredError(
    `${environment}: the newest manifest (serial ${serial}) expired at ${expires}; keeping the installed release`,
    {
      hint: 'on the build side, `pupistry push --refresh` re-signs what is live with a new expiry',
    },
  )
}
