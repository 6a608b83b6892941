import {createReadStream} from 'node:fs'
import {Transform} from 'node:stream'

import {BuildCache} from '../build/build-cache.js'
import type {PutOptions, Store} from '../contracts.js'
import {durationSeconds} from '../config/settings.js'
import {NotFoundError, StoppedError, StoreError, UsageError, VerificationError} from '../errors.js'
import {makeEnvelope, serializeEnvelope} from '../format/envelope.js'
import {manifestKey, manifestsPrefix, pointerKey, preparedKey, provenanceKey, serialOfKey} from '../format/layout.js'
import {type BuildRecord, type Manifest, manifestPayloadType, withFormat} from '../format/manifest.js'
import {type DeliveryMembers, type DeliveryOptions, deliveryMembers, onChannel} from './delivery.js'
import {channelOf, STABLE_CHANNEL} from '../format/channel.js'
import {parseEnvelope} from '../format/envelope.js'
import {manifestOf} from '../format/manifest.js'
import type {Provenance} from '../format/provenance.js'
import type {Runtime} from '../runtime.js'
import {sameSealed, uploadSealed} from '../sealed/publish.js'
import {publishedTrust, signPayload} from '../signing/signing.js'
import {isCreateConflict, openStore} from '../store/open-store.js'
import {formatBytes} from '../util/bytes.js'
import {type PublishedManifest, readPublished, readStoredManifest} from '../format/pointer.js'
import {provenanceOf, writeProvenance} from './provenance.js'

export interface PushResult {
  environment: string
  version: string
  /** prepared: signed, but waiting for more signatures (`pupistry sign`) before it is published. */
  status: 'published' | 'already-live' | 'prepared'
  serial: number
  signedBy?: string
  artifactUploaded: boolean
  /** Published with --version: an earlier build made live again under a new serial. */
  rollback?: boolean
  /** The channel, when not stable. */
  channel?: string
  /** The rollout's percent, when the release phases in. */
  rollout?: number
  /** The key of the signed provenance record of a promoted format-1 manifest (the manifest itself cannot carry it). */
  provenanceRecord?: string
}

/** An environment of the last build that failed to build: nothing of it is pushed, not even an earlier build. */
export interface NotBuiltResult {
  environment: string
  status: 'build-failed'
  error: string
  branch?: string
  puppetfileLine?: number
}

const SERIAL_ATTEMPTS = 5

/**
 * Publishes built environments: artifact first, then the manifest under a
 * new serial (create-only, so two pushes never share one), and the pointer
 * last, so no node ever sees a pointer to something missing.
 */
export async function push(
  runtime: Runtime,
  options: {environments?: string[]; refresh?: boolean; version?: string; signal?: AbortSignal} & DeliveryOptions,
): Promise<Array<PushResult | NotBuiltResult>> {
  const cache = new BuildCache(runtime.settings)
  const wanted = await cache.select(options.environments)
  if (options.version !== undefined && (wanted.length !== 1 || options.refresh)) {
    if (options.refresh) throw new UsageError('--version and --refresh cannot be combined')
    const which = options.environments?.length ? `${wanted.length} were given` : `the last build has ${wanted.length}`
    throw new UsageError(
      `--version publishes one environment, but ${which} (${wanted.join(', ')}): name one with --environment`,
    )
  }

  if (runtime.settings.general.gpg_disable) {
    runtime.log.warn(
      'general.gpg_disable is true: publishing UNSIGNED manifests; any node that trusts keys will refuse ' +
        'them, and any writer to the store can replace your code',
    )
  }

  const {signal} = options
  const store = interruptibleStore(await openStore(runtime, 'build'), signal)
  const results: Array<PushResult | NotBuiltResult> = []
  for (const environment of wanted) {
    // A signed rollback: an earlier build, signed again under a new serial (never an old manifest replayed).
    const record =
      options.version === undefined
        ? await cache.require(environment)
        : await cache.findVersion(environment, options.version)
    try {
      signal?.throwIfAborted()
      const result = await pushEnvironment(runtime, store, cache, record, {
        ...options,
        refresh: Boolean(options.refresh),
      })
      const newest = options.version === undefined ? undefined : await cache.read(environment)
      results.push(newest && newest.version !== record.version ? {...result, rollback: true} : result)
    } catch (error) {
      if (signal?.aborted) throw interrupted(signal, environment, results)
      throw error
    }
  }

  if (options.environments === undefined && options.version === undefined) {
    for (const {environment, ...failure} of await cache.failures()) {
      runtime.log.warn(`${environment}: not pushed: the last build of it failed (${failure.error})`)
      results.push({environment, status: 'build-failed', ...failure})
    }
  }

  if (runtime.settings.build.legacy_layout) {
    const {publishLegacy} = await import('./legacy.js')
    await publishLegacy(runtime, cache, {environments: wanted, refresh: options.refresh, version: options.version})
  }

  return results
}

/** Every write of this push gets the signal, so an interruption stops an upload and leaves nothing half-written. */
function interruptibleStore(store: Store, signal: AbortSignal | undefined): Store {
  if (!signal) return store
  // openStore's stores are plain objects of closures: copying one keeps every method working.
  return {...store, put: (key, body, options: PutOptions = {}) => store.put(key, body, {...options, signal})}
}

/** The one message of an interrupted push: what was published before, and that the rest was not. */
function interrupted(signal: AbortSignal, environment: string, done: Array<PushResult | NotBuiltResult>): StoppedError {
  const cause = signal.reason instanceof Error ? signal.reason.message : 'interrupted'
  const published = done.map((result) => result.environment)
  const before = published.length > 0 ? `${published.join(', ')} published before; ` : ''
  return new StoppedError(
    `${cause}: push stopped during ${environment}; ${before}its upload, if one had started, was abandoned and ` +
      'removed, and its pointer was not moved: nodes keep the release they have',
    {hint: 'run `pupistry push` again to publish the rest'},
  )
}

async function pushEnvironment(
  runtime: Runtime,
  store: Store,
  cache: BuildCache,
  built: BuildRecord,
  options: DeliveryOptions & {refresh: boolean},
): Promise<PushResult> {
  const {environment} = built
  const {refresh} = options
  const channel = options.channel ?? STABLE_CHANNEL
  const live = await trustedLive(runtime, store, environment, channel)
  if (refresh && !live)
    throw new NotFoundError(`${environment}: nothing is published${onChannel(channel)} at ${store.location} to refresh`)
  if (live && live.manifest.version === built.version && sameSealed(live.manifest, built) && !refresh) {
    return {
      artifactUploaded: false,
      environment,
      serial: live.manifest.serial,
      status: 'already-live',
      version: built.version,
    }
  }

  // A refresh re-signs exactly what is live, with a new serial and expiry (and a new rollout share when asked).
  const record: BuildRecord = refresh && live ? {...live.manifest, built: live.manifest.created} : built
  const members = deliveryMembers(channel, options.rollout, live?.manifest, refresh)
  return publishRecord(runtime, store, {
    floor: live?.manifest.serial ?? 0,
    members,
    // A refresh signs what is live again, where it came from included.
    provenance: refresh && live ? await provenanceOf(runtime, store, live) : undefined,
    record,
    upload: async () => {
      if (refresh) return false
      const uploaded = await uploadArtifact(runtime, store, cache, record)
      await uploadSealed(runtime, store, cache.dirOf(environment), record)
      return uploaded
    },
  })
}

/**
 * Signs and publishes a manifest for a record under the next serial of its
 * environment (shared by all its channels): the manifest create-only, then
 * the channel's pointer. `upload` puts the artifact in place first, once.
 */
export async function publishRecord(
  runtime: Runtime,
  store: Store,
  job: {
    record: BuildRecord
    members: DeliveryMembers
    floor: number
    upload: () => Promise<boolean>
    /** Where a promoted release came from (see withProvenance). */
    provenance?: Provenance
  },
): Promise<PushResult> {
  const {record, members} = job
  const {environment} = record
  let artifactUploaded: boolean | undefined
  for (let attempt = 0; attempt < SERIAL_ATTEMPTS; attempt++) {
    const serial = (await highestSerial(store, environment, job.floor)) + 1
    const manifest = withProvenance(manifestFor(runtime, store, record, serial, members), job.provenance)
    const {bytes, payload, signedBy} = await envelopeFor(runtime, manifest)
    artifactUploaded ??= await job.upload()
    const separate = job.provenance && !manifest.provenance ? job.provenance : undefined
    if (separate && !(await claimProvenance(runtime, store, {environment, payload, serial}, separate))) continue
    const result = {
      artifactUploaded,
      channel: members.channel,
      environment,
      ...(separate ? {provenanceRecord: provenanceKey(environment, serial)} : {}),
      rollout: members.rollout?.percent,
      serial,
      signedBy,
      version: record.version,
    }
    if (needsCosigning(runtime)) {
      await store.put(preparedKey(environment, channelOf(members)), bytes, {
        contentType: 'application/json',
        mutable: true,
      })
      return {...result, status: 'prepared'}
    }

    try {
      await store.put(manifestKey(environment, serial), bytes, {contentType: 'application/json', createOnly: true})
    } catch (error) {
      if (!isCreateConflict(error)) throw error
      runtime.log.warn(
        `${environment}: serial ${serial} was taken by another push meanwhile; retrying with the next one`,
      )
      // Our record of that serial was written create-only by us, and names a manifest that now never exists.
      if (separate) await store.delete(provenanceKey(environment, serial))
      continue
    }

    await publishPointer(runtime, store, {channel: channelOf(members), environment, serial}, bytes)

    return {...result, status: 'published'}
  }

  throw new StoreError(
    `${environment}: could not claim a serial after ${SERIAL_ATTEMPTS} attempts; other pushes keep racing this one`,
  )
}

/** With general.signature_threshold above 1, one key's signature is not enough: the manifest waits for `pupistry sign`. */
function needsCosigning(runtime: Runtime): boolean {
  const {general} = runtime.settings
  return !general.gpg_disable && (general.signature_threshold ?? 1) > 1
}

async function envelopeFor(
  runtime: Runtime,
  manifest: Manifest,
): Promise<{bytes: Buffer; payload: Buffer; signedBy?: string}> {
  const payloadType = manifestPayloadType(manifest.format)
  const payload = Buffer.from(JSON.stringify(manifest), 'utf8')
  if (runtime.settings.general.gpg_disable)
    return {bytes: serializeEnvelope(makeEnvelope(payloadType, payload, [])), payload}
  const signed = await signPayload(runtime, payloadType, payload)
  const signedBy = `${signed.signedBy.identity} (${signed.signedBy.keyid})`
  return {bytes: serializeEnvelope(signed.envelope), payload, signedBy}
}

/**
 * A promoted manifest names its source in its `provenance` member when it
 * is format 2 anyway (a channel, a rollout, sealed data). Otherwise it
 * stays format 1, so format-1 nodes still read it on latest.json, and the
 * source goes into a signed record beside it (claimProvenance).
 */
function withProvenance(manifest: Manifest, provenance: Provenance | undefined): Manifest {
  return provenance && manifest.format === 2 ? {...manifest, provenance} : manifest
}

/** Writes the record of the serial about to be published; false when another writer has claimed that serial. */
async function claimProvenance(
  runtime: Runtime,
  store: Store,
  manifest: {environment: string; serial: number; payload: Buffer},
  from: Provenance,
): Promise<boolean> {
  try {
    await writeProvenance(runtime, store, manifest, from)
    return true
  } catch (error) {
    if (!isCreateConflict(error)) throw error
    runtime.log.warn(
      `${manifest.environment}: serial ${manifest.serial} was taken by another promotion meanwhile; retrying with the next one`,
    )
    return false
  }
}

async function uploadArtifact(
  runtime: Runtime,
  store: Store,
  cache: BuildCache,
  record: BuildRecord,
): Promise<boolean> {
  const existing = await store.head(record.artifact.key)
  if (existing && existing.size === record.artifact.size) return false
  runtime.log.progress(`Uploading ${record.artifact.key} (${formatBytes(record.artifact.size)})`)
  const file = cache.artifactPath(record.environment, record.version)
  const stream = createReadStream(file)
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve())
    stream.once('error', reject)
  })
  try {
    await opened
  } catch {
    throw new NotFoundError(`the built artifact ${file} is missing`, {hint: 'run `pupistry build` again'})
  }

  const meter = runtime.log.meter(`Uploading ${record.environment}`, record.artifact.size)
  try {
    const body = stream.pipe(counting((bytes) => meter.advance(bytes)))
    stream.once('error', (error) => body.destroy(error))
    await store.put(record.artifact.key, body, {contentType: 'application/gzip', size: record.artifact.size})
  } finally {
    meter.done()
  }

  return true
}

/** Passes bytes through unchanged, telling how many went by (what the store has read, for progress). */
function counting(count: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      count(chunk.length)
      done(null, chunk)
    },
  })
}

/**
 * The live manifest, when it is signed by our key or one we trust. Anything
 * else in the pointer (tampered, or by someone else) is not believed: push
 * then publishes over it.
 */
export async function trustedLive(
  runtime: Runtime,
  store: Store,
  environment: string,
  channel: string = STABLE_CHANNEL,
): Promise<PublishedManifest | undefined> {
  const live = await readPublished(store, environment, channel).catch((error) => {
    if (!(error instanceof VerificationError)) throw error
    runtime.log.warn(`${environment}: the live pointer is not a valid manifest (${error.message}); publishing over it`)
    return undefined
  })
  if (!live || runtime.settings.general.gpg_disable) return live
  if ((await publishedTrust(runtime, live.envelope)) === 'trusted') return live
  runtime.log.warn(
    `${environment}: the live manifest (serial ${live.manifest.serial}) is not signed by your key or a trusted key; publishing over it`,
  )
  return undefined
}

/**
 * Moves the channel's pointer to our manifest, then makes sure it ends on the
 * newest serial of that channel: if a concurrent push claimed a higher one
 * for it meanwhile, the pointer gets that manifest's bytes, so it never stays
 * behind. Serials are shared by all channels, so higher serials of other
 * channels are passed over.
 */
export async function publishPointer(
  runtime: Runtime,
  store: Store,
  target: {environment: string; channel: string; serial: number},
  bytes: Buffer,
): Promise<void> {
  const {environment, channel, serial} = target
  const pointer = pointerKey(environment, channel)
  await store.put(pointer, bytes, {contentType: 'application/json', mutable: true})
  const newer = (await store.list(manifestsPrefix(environment)))
    .map((object) => serialOfKey(object.key) ?? 0)
    .filter((other) => other > serial)
    .sort((a, b) => b - a)
  for (const other of newer) {
    const newest = await newerOfChannel(store, environment, other, channel)
    if (!newest) continue
    runtime.log.warn(`${environment}: serial ${other} was published while this push ran; the pointer names it`)
    await store.put(pointer, newest, {contentType: 'application/json', mutable: true})
    break
  }

  await readBack(store, {channel, environment, serial})
}

/** The envelope of a manifest serial when it is for `channel`. */
async function newerOfChannel(
  store: Store,
  environment: string,
  serial: number,
  channel: string,
): Promise<Buffer | undefined> {
  const stored = await readStoredManifest(store, environment, serial)
  if (!stored) return undefined
  try {
    return channelOf(manifestOf(parseEnvelope(stored.bytes, stored.where), stored.where)) === channel
      ? stored.bytes
      : undefined
  } catch (error) {
    if (error instanceof VerificationError) return undefined
    throw error
  }
}

/** The highest serial the store holds a manifest for in the environment, or `floor` when that is higher. */
async function highestSerial(store: Store, environment: string, floor: number): Promise<number> {
  const serials = (await store.list(manifestsPrefix(environment))).map((object) => serialOfKey(object.key) ?? 0)
  return Math.max(floor, ...serials)
}

function manifestFor(
  runtime: Runtime,
  store: Store,
  record: BuildRecord,
  serial: number,
  members: DeliveryMembers,
): Manifest {
  const created = new Date()
  const ttl = runtime.settings.general.manifest_ttl
  return withFormat({
    ...members,
    artifact: record.artifact,
    build: record.build,
    created: created.toISOString(),
    environment: record.environment,
    expires: ttl ? new Date(created.getTime() + durationSeconds(ttl) * 1000).toISOString() : null,
    prefix: store.prefix,
    ...(record.sealed ? {sealed: record.sealed} : {}),
    serial,
    version: record.version,
  })
}

/** The Ruby tool checked its upload; so do we: the pointer must now name our serial. */
async function readBack(
  store: Store,
  {environment, channel, serial}: {environment: string; channel: string; serial: number},
): Promise<void> {
  const now = await readPublished(store, environment, channel)
  if (!now) throw new StoreError(`${environment}: the pointer written to ${store.location} cannot be read back`)
  if (now.manifest.serial < serial) {
    throw new StoreError(
      `${environment}: the pointer at ${store.location} reads back serial ${now.manifest.serial}, not ` +
        `${serial}: is another writer or a stale cache in the way?`,
    )
  }
}
