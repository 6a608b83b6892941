import {createReadStream} from 'node:fs'
import {Transform} from 'node:stream'

import {BuildCache} from '../build/build-cache.js'
import type {Store} from '../contracts.js'
import {durationSeconds} from '../config/settings.js'
import {NotFoundError, StoreError, UsageError, VerificationError} from '../errors.js'
import {makeEnvelope, MAX_ENVELOPE_BYTES, serializeEnvelope} from '../format/envelope.js'
import {manifestKey, manifestsPrefix, pointerKey, serialOfKey} from '../format/layout.js'
import {type BuildRecord, type Manifest, manifestPayloadType, withFormat} from '../format/manifest.js'
import type {Runtime} from '../runtime.js'
import {sameSealed, uploadSealed} from '../sealed/publish.js'
import {publishedTrust, signPayload} from '../signing/signing.js'
import {isCreateConflict, openStore} from '../store/open-store.js'
import {formatBytes} from '../util/bytes.js'
import {type PublishedManifest, readLimited, readPublished} from '../format/pointer.js'

export interface PushResult {
  environment: string
  version: string
  status: 'published' | 'already-live'
  serial: number
  signedBy?: string
  artifactUploaded: boolean
  /** Published with --version: an earlier build made live again under a new serial. */
  rollback?: boolean
}

const SERIAL_ATTEMPTS = 5

/**
 * Publishes built environments: artifact first, then the manifest under a
 * new serial (create-only, so two pushes never share one), and the pointer
 * last, so no node ever sees a pointer to something missing.
 */
export async function push(
  runtime: Runtime,
  options: {environments?: string[]; refresh?: boolean; version?: string},
): Promise<PushResult[]> {
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

  const store = await openStore(runtime, 'build')
  const results: PushResult[] = []
  for (const environment of wanted) {
    // A signed rollback: an earlier build, signed again under a new serial (never an old manifest replayed).
    const record =
      options.version === undefined
        ? await cache.require(environment)
        : await cache.findVersion(environment, options.version)
    const result = await pushEnvironment(runtime, store, cache, record, Boolean(options.refresh))
    const newest = options.version === undefined ? undefined : await cache.read(environment)
    results.push(newest && newest.version !== record.version ? {...result, rollback: true} : result)
  }

  return results
}

async function pushEnvironment(
  runtime: Runtime,
  store: Store,
  cache: BuildCache,
  built: BuildRecord,
  refresh: boolean,
): Promise<PushResult> {
  const {environment} = built
  const live = await trustedLive(runtime, store, environment)
  if (refresh && !live) throw new NotFoundError(`${environment}: nothing is published at ${store.location} to refresh`)
  if (live && live.manifest.version === built.version && sameSealed(live.manifest, built) && !refresh) {
    return {
      artifactUploaded: false,
      environment,
      serial: live.manifest.serial,
      status: 'already-live',
      version: built.version,
    }
  }

  // A refresh re-signs exactly what is live, with a new serial and expiry.
  const record: BuildRecord = refresh && live ? {...live.manifest, built: live.manifest.created} : built
  let artifactUploaded: boolean | undefined
  for (let attempt = 0; attempt < SERIAL_ATTEMPTS; attempt++) {
    const serial = (await highestSerial(store, environment, live?.manifest.serial ?? 0)) + 1
    const {bytes, signedBy} = await envelopeFor(runtime, manifestFor(runtime, store, record, serial))
    artifactUploaded ??= refresh ? false : await uploadArtifact(runtime, store, cache, record)
    if (!refresh && attempt === 0) await uploadSealed(runtime, store, cache.dirOf(environment), record)
    try {
      await store.put(manifestKey(environment, serial), bytes, {contentType: 'application/json', createOnly: true})
    } catch (error) {
      if (!isCreateConflict(error)) throw error
      runtime.log.warn(
        `${environment}: serial ${serial} was taken by another push meanwhile; retrying with the next one`,
      )
      continue
    }

    await publishPointer(runtime, store, environment, serial, bytes)

    return {artifactUploaded, environment, serial, signedBy, status: 'published', version: record.version}
  }

  throw new StoreError(
    `${environment}: could not claim a serial after ${SERIAL_ATTEMPTS} attempts; other pushes keep racing this one`,
  )
}

async function envelopeFor(runtime: Runtime, manifest: Manifest): Promise<{bytes: Buffer; signedBy?: string}> {
  const payloadType = manifestPayloadType(manifest.format)
  const payload = Buffer.from(JSON.stringify(manifest), 'utf8')
  if (runtime.settings.general.gpg_disable) return {bytes: serializeEnvelope(makeEnvelope(payloadType, payload, []))}
  const signed = await signPayload(runtime, payloadType, payload)
  return {bytes: serializeEnvelope(signed.envelope), signedBy: `${signed.signedBy.identity} (${signed.signedBy.keyid})`}
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
async function trustedLive(
  runtime: Runtime,
  store: Store,
  environment: string,
): Promise<PublishedManifest | undefined> {
  const live = await readPublished(store, environment).catch((error) => {
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
 * Moves the pointer to our manifest, then makes sure it ends on the newest
 * serial: if a concurrent push claimed a higher one meanwhile, the pointer
 * gets that manifest's bytes, so it never stays behind.
 */
async function publishPointer(
  runtime: Runtime,
  store: Store,
  environment: string,
  serial: number,
  bytes: Buffer,
): Promise<void> {
  await store.put(pointerKey(environment), bytes, {contentType: 'application/json', mutable: true})
  const newest = await highestSerial(store, environment, serial)
  if (newest > serial) {
    runtime.log.warn(`${environment}: serial ${newest} was published while this push ran; the pointer names it`)
    const object = await store.get(manifestKey(environment, newest))
    if (object && 'body' in object)
      await store.put(
        pointerKey(environment),
        await readLimited(object.body, MAX_ENVELOPE_BYTES, manifestKey(environment, newest)),
        {contentType: 'application/json', mutable: true},
      )
  }

  await readBack(store, environment, serial)
}

/** The highest serial the store holds a manifest for in the environment, or `floor` when that is higher. */
async function highestSerial(store: Store, environment: string, floor: number): Promise<number> {
  const serials = (await store.list(manifestsPrefix(environment))).map((object) => serialOfKey(object.key) ?? 0)
  return Math.max(floor, ...serials)
}

function manifestFor(runtime: Runtime, store: Store, record: BuildRecord, serial: number): Manifest {
  const created = new Date()
  const ttl = runtime.settings.general.manifest_ttl
  return withFormat({
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
async function readBack(store: Store, environment: string, serial: number): Promise<void> {
  const now = await readPublished(store, environment)
  if (!now) throw new StoreError(`${environment}: the pointer written to ${store.location} cannot be read back`)
  if (now.manifest.serial < serial) {
    throw new StoreError(
      `${environment}: the pointer at ${store.location} reads back serial ${now.manifest.serial}, not ` +
        `${serial}: is another writer or a stale cache in the way?`,
    )
  }
}
