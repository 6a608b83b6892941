import type {IncompleteWrite, ObjectInfo, Store} from '../contracts.js'
import {VerificationError} from '../errors.js'
import {MAX_ENVELOPE_BYTES, parseEnvelope} from '../format/envelope.js'
import {STABLE_CHANNEL} from '../format/channel.js'
import {
  channelOfPointerKey,
  channelsPrefix,
  LAYOUT_ROOT,
  manifestsPrefix,
  parseOwnKey,
  pointerKey,
  provenancePrefix,
  serialOfKey,
} from '../format/layout.js'
import {manifestOf} from '../format/manifest.js'
import type {Runtime} from '../runtime.js'
import {openStore} from '../store/open-store.js'
import {readLimited, readPointer} from '../format/pointer.js'

export interface PruneOptions {
  /** Manifests older than the live one kept per environment (the live one and any newer are always kept). */
  keep: number
  dryRun: boolean
  /** Artifacts no kept manifest names are left alone until they are this old (a push may be uploading). */
  graceSeconds: number
  environments?: string[]
  now?: Date
}

export interface PruneResult {
  environment: string
  /** The serial the pointer names, when it could be read. */
  live?: number
  keptManifests: number[]
  keptArtifacts: number
  deleted: ObjectInfo[]
  freedBytes: number
  /** Why nothing was pruned in this environment, when so. */
  skipped?: string
  /** Artifacts no kept manifest needs that were kept all the same: the store's listing does not say when they were written. */
  undated?: number
  /** Writes that never finished (temporary files, multipart uploads) older than the grace period, removed. */
  incomplete?: number
}

interface EnvironmentObjects {
  manifests: Map<number, ObjectInfo>
  artifacts: Map<string, ObjectInfo>
}

/** Removes old manifests and artifacts; never what the pointer names, anything newer, or the `keep` newest before it. */
export async function prune(runtime: Runtime, options: PruneOptions): Promise<PruneResult[]> {
  return pruneStore(runtime, await openStore(runtime, 'build'), options)
}

export async function pruneStore(
  runtime: Pick<Runtime, 'log'>,
  store: Store,
  options: PruneOptions,
): Promise<PruneResult[]> {
  const byEnvironment = groupOwnObjects(await store.list(`${LAYOUT_ROOT}/`))
  const incomplete = await incompleteWrites(runtime, store)
  // An environment whose first push was interrupted has nothing but what that push left.
  const found = [...byEnvironment.keys(), ...incomplete.map((write) => write.key.split('/')[1])]
  const names = options.environments?.length ? options.environments : [...new Set(found)].sort()
  const results: PruneResult[] = []
  for (const environment of names) {
    const objects = byEnvironment.get(environment) ?? {artifacts: new Map(), manifests: new Map()}
    results.push(await pruneEnvironment(runtime, store, environment, objects, options))
  }

  await discardIncomplete(store, incomplete, results, options)
  return results
}

async function incompleteWrites(runtime: Pick<Runtime, 'log'>, store: Store): Promise<IncompleteWrite[]> {
  if (!store.incomplete || !store.discard) return []
  try {
    return await store.incomplete(`${LAYOUT_ROOT}/`)
  } catch (error) {
    runtime.log.warn(`cannot list the unfinished uploads in ${store.location}: ${(error as Error).message}`)
    return []
  }
}

/**
 * What interrupted pushes left in our layout (a temporary file, an S3
 * multipart upload): removed once older than the grace period, since a
 * push may be writing it right now.
 */
async function discardIncomplete(
  store: Store,
  writes: IncompleteWrite[],
  results: PruneResult[],
  options: PruneOptions,
): Promise<void> {
  const cutoff = (options.now ?? new Date()).getTime() - options.graceSeconds * 1000
  for (const write of writes) {
    const result = results.find((entry) => write.key.startsWith(`${LAYOUT_ROOT}/${entry.environment}/`))
    if (!result || write.started === undefined || write.started.getTime() > cutoff) continue
    if (!options.dryRun) await store.discard?.(write)
    result.incomplete = (result.incomplete ?? 0) + 1
  }
}

function groupOwnObjects(objects: ObjectInfo[]): Map<string, EnvironmentObjects> {
  const grouped = new Map<string, EnvironmentObjects>()
  for (const object of objects) {
    const own = parseOwnKey(object.key)
    if (!own) continue
    let entry = grouped.get(own.environment)
    if (!entry) {
      entry = {artifacts: new Map(), manifests: new Map()}
      grouped.set(own.environment, entry)
    }
    if ('serial' in own) entry.manifests.set(own.serial, object)
    else entry.artifacts.set(own.sha256, object)
  }

  return grouped
}

async function pruneEnvironment(
  runtime: Pick<Runtime, 'log'>,
  store: Store,
  environment: string,
  objects: EnvironmentObjects,
  options: PruneOptions,
): Promise<PruneResult> {
  const result: PruneResult = {
    deleted: [],
    environment,
    freedBytes: 0,
    keptArtifacts: objects.artifacts.size,
    keptManifests: [...objects.manifests.keys()].sort((a, b) => a - b),
  }
  const skip = (reason: string): PruneResult => {
    runtime.log.warn(`${environment}: ${reason}; nothing pruned there`)
    return {...result, skipped: reason}
  }

  const pointer = await liveArtifact(store, environment)
  if ('skip' in pointer) return skip(pointer.skip)
  const live = pointer.serial
  result.live = live
  const serials = result.keptManifests
  // --keep counts the releases an operator can go back to, so the live one (and a push in progress) come on top.
  const before = serials.filter((serial) => serial < live)
  const older = new Set(before.slice(before.length - Math.min(options.keep, before.length)))
  const keep = serials.filter((serial) => serial >= live || older.has(serial))
  const drop = serials.filter((serial) => !keep.includes(serial))

  // The artifacts the live pointer and the kept manifests name stay. A kept manifest that cannot be read keeps every artifact.
  const needed = new Set<string>(pointer.sha256s)
  for (const serial of keep) {
    const sha256 = await artifactOf(store, objects.manifests.get(serial)!.key)
    if (!sha256) return skip(`manifest serial ${serial} cannot be read, so the artifacts it needs are unknown`)
    needed.add(sha256)
  }

  // Manifests go first: an interrupted prune never leaves a manifest naming a missing artifact.
  for (const serial of drop) await remove(store, objects.manifests.get(serial)!, result, options.dryRun)
  result.keptManifests = keep
  // A provenance record goes with its manifest (one of a serial still being published is newer than the live one).
  for (const record of await store.list(provenancePrefix(environment))) {
    const serial = serialOfKey(record.key, 'provenance')
    if (serial !== undefined && serial < live && !keep.includes(serial))
      await remove(store, record, result, options.dryRun)
  }

  // A push may have published meanwhile, reusing an artifact that was already there (a republished
  // old version keeps its old upload time): look again, just before artifacts go.
  const again = await liveArtifact(store, environment)
  if ('skip' in again) return skip(again.skip)
  for (const sha256 of again.sha256s) needed.add(sha256)
  for (const object of await store.list(manifestsPrefix(environment))) {
    const serial = serialOfKey(object.key)
    if (serial === undefined || objects.manifests.has(serial)) continue
    const sha256 = await artifactOf(store, object.key)
    if (!sha256) return skip(`manifest serial ${serial}, published while pruning, cannot be read`)
    needed.add(sha256)
  }

  const cutoff = (options.now ?? new Date()).getTime() - options.graceSeconds * 1000
  const unneeded = [...objects.artifacts.entries()]
    .filter(([sha256]) => !needed.has(sha256))
    .map(([, object]) => object)
  const doomedArtifacts = unneeded.filter(
    (object) => object.modified !== undefined && object.modified.getTime() <= cutoff,
  )
  for (const object of doomedArtifacts) await remove(store, object, result, options.dryRun)
  // Without a write time, a push still uploading cannot be told from an old leftover: keep them, and say so.
  const undated = unneeded.filter((object) => object.modified === undefined).length
  if (undated > 0) {
    runtime.log.warn(
      `${environment}: kept ${undated} artifact(s) no kept manifest needs, because ${store.location} does not say when they were ` +
        'written (its listing gives no modified time); delete them by hand, or use a store that dates its objects',
    )
  }

  const kept = {...result, keptArtifacts: objects.artifacts.size - doomedArtifacts.length, keptManifests: keep}
  return undated > 0 ? {...kept, undated} : kept
}

/**
 * The oldest serial a pointer of the environment (stable's or another
 * channel's) names now, or a phased release names as its previous one, and
 * the artifacts they all name; or why prune must leave the environment
 * alone. Every channel's live release stays.
 */
async function liveArtifact(
  store: Store,
  environment: string,
): Promise<{serial: number; sha256s: string[]} | {skip: string}> {
  const channels = (await store.list(channelsPrefix(environment)))
    .map((object) => channelOfPointerKey(object.key))
    .filter((channel) => channel !== undefined)
  const live: {serial: number; sha256: string}[] = []
  for (const channel of [STABLE_CHANNEL, ...channels]) {
    try {
      const pointer = await readPointer(store, environment, {channel})
      if (!pointer || 'notModified' in pointer) {
        if (channel === STABLE_CHANNEL && channels.length === 0)
          return {skip: `no pointer at ${store.location} ${pointerKey(environment)}`}
        continue
      }

      const manifest = manifestOf(pointer.envelope, pointer.where)
      live.push({serial: manifest.serial, sha256: manifest.artifact.sha256})
      // A phased release's previous one stays too: a node with no release outside the cohort installs it from its manifest.
      const previous = manifest.rollout?.previous
      if (previous) live.push({serial: previous.serial, sha256: previous.version})
    } catch (error) {
      if (error instanceof VerificationError)
        return {skip: `the pointer ${pointerKey(environment, channel)} is not a valid manifest (${error.message})`}
      throw error
    }
  }

  if (live.length === 0) return {skip: `no pointer at ${store.location} ${channelsPrefix(environment)}`}
  return {serial: Math.min(...live.map((entry) => entry.serial)), sha256s: live.map((entry) => entry.sha256)}
}

async function remove(store: Store, object: ObjectInfo, result: PruneResult, dryRun: boolean): Promise<void> {
  if (!dryRun) await store.delete(object.key)
  result.deleted.push(object)
  result.freedBytes += object.size
}

/** The artifact SHA-256 a stored manifest names (its signature is not needed to decide what to keep). */
async function artifactOf(store: Store, key: string): Promise<string | undefined> {
  const object = await store.get(key)
  if (!object || 'notModified' in object) return undefined
  try {
    const where = `${store.location} ${key}`
    return manifestOf(parseEnvelope(await readLimited(object.body, MAX_ENVELOPE_BYTES, where), where), where).artifact
      .sha256
  } catch (error) {
    if (error instanceof VerificationError) return undefined
    throw error
  }
}
