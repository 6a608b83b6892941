import {mkdtemp, rm} from 'node:fs/promises'
import {createReadStream} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {downloadArtifact} from '../artifact/download.js'
import type {Store} from '../contracts.js'
import {NotFoundError, SealedDataError, UsageError, VerificationError} from '../errors.js'
import {STABLE_CHANNEL} from '../format/channel.js'
import {artifactKey} from '../format/layout.js'
import type {BuildRecord, Manifest} from '../format/manifest.js'
import {readPublished} from '../format/pointer.js'
import {publishRecord, type PushResult, trustedLive} from '../publish/push.js'
import type {Runtime} from '../runtime.js'
import {publishedTrust} from '../signing/signing.js'
import {sameSealed} from '../sealed/publish.js'
import {openStore} from '../store/open-store.js'
import {deliveryMembers, onChannel} from '../publish/delivery.js'
import {assertFleetChecks, DEFAULT_STALE_SECONDS, fleet} from './fleet.js'
import type {FleetCheck} from './fleet-check.js'

export interface PromoteOptions {
  fromEnvironment: string
  toEnvironment: string
  from?: string
  to?: string
  rollout?: number
  /** Fleet checks the source's nodes must meet first (`--require-fleet`); a check naming no channel means the source's. */
  requireFleet?: FleetCheck[]
  /** Seconds after which a report counts as stale for those checks. */
  stale?: number
}

export interface PromoteResult extends PushResult {
  from: {environment: string; channel: string; serial: number}
}

/**
 * Promotes what a channel runs to another channel or environment: a new
 * manifest, signed with the build side's key, for the identical artifact
 * and build record, under the target's next serial, naming its source
 * (provenance). Nothing is rebuilt: the bytes tested are the bytes deployed.
 */
export async function promote(runtime: Runtime, options: PromoteOptions): Promise<PromoteResult> {
  const from = {channel: options.from ?? STABLE_CHANNEL, environment: options.fromEnvironment}
  const to = {channel: options.to ?? STABLE_CHANNEL, environment: options.toEnvironment}
  if (from.channel === to.channel && from.environment === to.environment)
    throw new UsageError(`nothing to promote: source and target are both channel ${to.channel} of ${to.environment}`)
  if (options.requireFleet?.length) {
    const checks = options.requireFleet.map((check) => ({...check, channel: check.channel ?? from.channel}))
    const stale = options.stale ?? DEFAULT_STALE_SECONDS
    assertFleetChecks(await fleet(runtime, {checks, environment: from.environment, stale}))
  }

  const store = await openStore(runtime, 'build')
  const source = await trustedSource(runtime, store, from)
  if (source.sealed && to.environment !== from.environment) throw crossEnvironmentSealed(source, from, to)
  const provenance = {...from, serial: source.serial}
  const live = await trustedLive(runtime, store, to.environment, to.channel)
  const same = live && live.manifest.version === source.version && sameSealed(live.manifest, source)
  if (same && options.rollout === undefined) {
    return {
      artifactUploaded: false,
      environment: to.environment,
      from: provenance,
      serial: live.manifest.serial,
      status: 'already-live',
      version: source.version,
    }
  }

  const record: BuildRecord = {
    artifact: {...source.artifact, key: artifactKey(to.environment, source.artifact.sha256)},
    build: source.build,
    built: source.created,
    environment: to.environment,
    // Within one environment the sealed data goes along: the index and bundles are that environment's.
    ...(source.sealed ? {sealed: source.sealed} : {}),
    version: source.version,
  }
  const result = await publishRecord(runtime, store, {
    floor: live?.manifest.serial ?? 0,
    members: deliveryMembers(to.channel, options.rollout, live?.manifest, false),
    provenance,
    record,
    upload: () => copyArtifact(runtime, store, source, record.artifact.key),
  })
  return {...result, from: provenance}
}

/**
 * Sealed data is bound to its environment (the index, every bundle's
 * header and each node's tag name it, and the index names the artifact
 * version it was selected for), and a promotion rebuilds nothing: the
 * selection for the target's hierarchy and registry needs a build.
 */
function crossEnvironmentSealed(
  source: Manifest,
  from: {environment: string; channel: string},
  to: {environment: string},
): SealedDataError {
  return new SealedDataError(
    `${from.environment}${onChannel(from.channel)} (serial ${source.serial}) has sealed hiera data, which is ` +
      `bound to ${from.environment}: it cannot be promoted to ${to.environment}; nothing was written`,
    {
      hint:
        `build and push ${to.environment} from the same commit (\`pupistry build -e ${to.environment}\` then ` +
        '`pupistry push`): its nodes get data sealed for that environment; promote between channels of one ' +
        'environment (--from/--to) carries the sealed data',
    },
  )
}

/** The source's live manifest, which must be signed by the build side's key or a key it trusts. */
async function trustedSource(
  runtime: Runtime,
  store: Store,
  from: {environment: string; channel: string},
): Promise<Manifest> {
  const where = `${from.environment}${onChannel(from.channel)}`
  const source = await readPublished(store, from.environment, from.channel)
  if (!source) throw new NotFoundError(`nothing is published for ${where} at ${store.location} to promote`)
  if (!runtime.settings.general.gpg_disable && (await publishedTrust(runtime, source.envelope)) !== 'trusted') {
    throw new VerificationError(
      `the live manifest of ${where} (serial ${source.manifest.serial}) is not signed by your key or a trusted key; ` +
        'refusing to promote it',
    )
  }

  return source.manifest
}

/**
 * Another environment's artifact key holds the same bytes: copied through a
 * private temporary file and checked against the signed hash and size on
 * the way, so a tampered source object is never republished.
 */
async function copyArtifact(runtime: Runtime, store: Store, source: Manifest, key: string): Promise<boolean> {
  if (key === source.artifact.key) return false
  const existing = await store.head(key)
  if (existing && existing.size === source.artifact.size) return false
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pupistry-promote-'))
  try {
    const file = path.join(dir, 'artifact.tar.gz')
    runtime.log.progress(`Copying ${source.artifact.key} to ${key} (${source.artifact.size} bytes)`)
    await downloadArtifact(store, source, file)
    await store.put(key, createReadStream(file), {contentType: 'application/gzip', size: source.artifact.size})
    return true
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
}
