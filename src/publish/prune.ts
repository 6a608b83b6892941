import type {IncompleteWrite, ObjectInfo, Store} from '../contracts.js'
import {PupistryError, VerificationError} from '../errors.js'
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
  sealedIndexPrefix,
  serialOfKey,
} from '../format/layout.js'
import {type Manifest, manifestOf} from '../format/manifest.js'
import type {Runtime} from '../runtime.js'
import {openStore} from '../store/open-store.js'
import {readLimited, readPointer} from '../format/pointer.js'
import {INDEX_PAYLOAD_TYPE, indexSchema, MAX_INDEX_BYTES, parseSealedEnvelope, payloadOf} from '../sealed/format.js'

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
  /** Sealed hiera objects (indexes and bundles) kept: those kept manifests name, and any too young or undated. */
  keptSealed: number
  deleted: ObjectInfo[]
  freedBytes: number
  /** Why nothing was pruned in this environment, when so. */
  skipped?: string
  /** Objects no kept manifest needs that were kept all the same: the store's listing does not say when they were written. */
  undated?: number
  /** Writes that never finished (temporary files, multipart uploads) older than the grace period, removed. */
  incomplete?: number
}

interface EnvironmentObjects {
  manifests: Map<number, ObjectInfo>
  artifacts: Map<string, ObjectInfo>
  indexes: Map<string, ObjectInfo>
  bundles: Map<string, ObjectInfo>
}

const noObjects = (): EnvironmentObjects => ({
  artifacts: new Map(),
  bundles: new Map(),
  indexes: new Map(),
  manifests: new Map(),
})

/** What a manifest needs in the store: its artifact, and its sealed index when it has one. */
interface ManifestNeeds {
  serial: number
  artifact: string
  index?: string
}

/** Removes old manifests, artifacts and sealed data; never what the pointer names, anything newer, or the `keep` newest before it. */
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
    const objects = byEnvironment.get(environment) ?? noObjects()
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
      entry = noObjects()
      grouped.set(own.environment, entry)
    }
    if (own.kind === 'manifest') entry.manifests.set(own.serial, object)
    else
      entry[own.kind === 'artifact' ? 'artifacts' : own.kind === 'index' ? 'indexes' : 'bundles'].set(
        own.sha256,
        object,
      )
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
    keptSealed: objects.indexes.size + objects.bundles.size,
  }
  const skip = (reason: string): PruneResult => {
    runtime.log.warn(`${environment}: ${reason}; nothing pruned there`)
    return {...result, skipped: reason}
  }

  const pointer = await liveNeeds(store, environment)
  if ('skip' in pointer) return skip(pointer.skip)
  const live = Math.min(...pointer.needs.map((needs) => needs.serial))
  result.live = live
  const serials = result.keptManifests
  // --keep counts the releases an operator can go back to, so the live one (and a push in progress) come on top.
  const before = serials.filter((serial) => serial < live)
  const older = new Set(before.slice(before.length - Math.min(options.keep, before.length)))
  const keep = serials.filter((serial) => serial >= live || older.has(serial))
  const drop = serials.filter((serial) => !keep.includes(serial))

  // What the live pointers and the kept manifests name stays. A kept manifest that cannot be read keeps everything.
  const needed = new Needed(pointer.needs)
  for (const serial of keep) {
    const needs = await needsOf(store, objects.manifests.get(serial)!.key)
    if (!needs) return skip(`manifest serial ${serial} cannot be read, so the artifacts it needs are unknown`)
    needed.add(needs)
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
  const again = await liveNeeds(store, environment)
  if ('skip' in again) return skip(again.skip)
  for (const needs of again.needs) needed.add(needs)
  for (const object of await store.list(manifestsPrefix(environment))) {
    const serial = serialOfKey(object.key)
    if (serial === undefined || objects.manifests.has(serial)) continue
    const needs = await needsOf(store, object.key)
    if (!needs) return skip(`manifest serial ${serial}, published while pruning, cannot be read`)
    needed.add(needs)
  }

  const cutoff = (options.now ?? new Date()).getTime() - options.graceSeconds * 1000
  const sweep = new Sweep(store, result, options.dryRun, cutoff)
  const undatedArtifacts = await sweep.unneeded(objects.artifacts, needed.artifacts)
  // Then indexes (a kept manifest names its index), then the bundles no index left in the store names:
  // that counts an index a push is uploading right now, which may reuse an old bundle.
  let undatedSealed = await sweep.unneeded(objects.indexes, needed.indexes)
  const bundles = new Set<string>()
  for (const object of await store.list(sealedIndexPrefix(environment))) {
    if (sweep.removed(object.key)) continue
    const entries = await bundlesOf(store, object.key)
    if (!entries) return skip(`the sealed index ${object.key} cannot be read, so the bundles it needs are unknown`)
    for (const key of entries) bundles.add(key)
  }

  undatedSealed += await sweep.unneeded(objects.bundles, bundles)
  // Without a write time, a push still uploading cannot be told from an old leftover: keep them, and say so.
  const undated = [
    ...(undatedArtifacts ? [`${undatedArtifacts} artifact(s)`] : []),
    ...(undatedSealed ? [`${undatedSealed} sealed object(s)`] : []),
  ]
  if (undated.length > 0) {
    runtime.log.warn(
      `${environment}: kept ${undated.join(' and ')} no kept manifest needs, because ${store.location} does not say when ` +
        'they were written (its listing gives no modified time); delete them by hand, or use a store that dates its objects',
    )
  }

  const kept = {
    ...result,
    keptArtifacts: objects.artifacts.size - sweep.count(objects.artifacts),
    keptManifests: keep,
    keptSealed:
      objects.indexes.size + objects.bundles.size - sweep.count(objects.indexes) - sweep.count(objects.bundles),
  }
  return undated.length > 0 ? {...kept, undated: undatedArtifacts + undatedSealed} : kept
}

/** The SHA-256s of the artifacts and the keys of the sealed indexes that kept manifests name. */
class Needed {
  readonly artifacts = new Set<string>()
  readonly indexes = new Set<string>()

  constructor(needs: ManifestNeeds[]) {
    for (const each of needs) this.add(each)
  }

  add(needs: ManifestNeeds): void {
    this.artifacts.add(needs.artifact)
    if (needs.index) this.indexes.add(needs.index)
  }
}

/** Removes the objects nobody needs that are older than the grace period; counts those it cannot date. */
class Sweep {
  private readonly gone = new Set<string>()

  constructor(
    private readonly store: Store,
    private readonly result: PruneResult,
    private readonly dryRun: boolean,
    private readonly cutoff: number,
  ) {}

  /** `needed` holds SHA-256s (artifacts) or keys (sealed data). Returns how many it could not date. */
  async unneeded(objects: Map<string, ObjectInfo>, needed: Set<string>): Promise<number> {
    let undated = 0
    for (const [sha256, object] of objects) {
      if (needed.has(sha256) || needed.has(object.key)) continue
      if (object.modified === undefined) undated++
      else if (object.modified.getTime() <= this.cutoff) {
        await remove(this.store, object, this.result, this.dryRun)
        this.gone.add(object.key)
      }
    }

    return undated
  }

  removed(key: string): boolean {
    return this.gone.has(key)
  }

  count(objects: Map<string, ObjectInfo>): number {
    return [...objects.values()].filter((object) => this.gone.has(object.key)).length
  }
}

/**
 * What the pointers of the environment (stable's and every other
 * channel's) name now, and the previous release a phased one names; or
 * why prune must leave the environment alone. Every channel's live release stays.
 */
async function liveNeeds(store: Store, environment: string): Promise<{needs: ManifestNeeds[]} | {skip: string}> {
  const channels = (await store.list(channelsPrefix(environment)))
    .map((object) => channelOfPointerKey(object.key))
    .filter((channel) => channel !== undefined)
  const needs: ManifestNeeds[] = []
  for (const channel of [STABLE_CHANNEL, ...channels]) {
    try {
      const pointer = await readPointer(store, environment, {channel})
      if (!pointer || 'notModified' in pointer) {
        if (channel === STABLE_CHANNEL && channels.length === 0)
          return {skip: `no pointer at ${store.location} ${pointerKey(environment)}`}
        continue
      }

      const manifest = manifestOf(pointer.envelope, pointer.where)
      needs.push(needsOfManifest(manifest))
      // A phased release's previous one stays too: a node with no release outside the cohort installs it from its
      // manifest, which is kept (its serial is the oldest live one), and with it its sealed index.
      const previous = manifest.rollout?.previous
      if (previous) needs.push({artifact: previous.version, serial: previous.serial})
    } catch (error) {
      if (error instanceof VerificationError)
        return {skip: `the pointer ${pointerKey(environment, channel)} is not a valid manifest (${error.message})`}
      throw error
    }
  }

  if (needs.length === 0) return {skip: `no pointer at ${store.location} ${channelsPrefix(environment)}`}
  return {needs}
}

function needsOfManifest(manifest: Manifest): ManifestNeeds {
  return {artifact: manifest.artifact.sha256, index: manifest.sealed?.index.key, serial: manifest.serial}
}

async function remove(store: Store, object: ObjectInfo, result: PruneResult, dryRun: boolean): Promise<void> {
  if (!dryRun) await store.delete(object.key)
  result.deleted.push(object)
  result.freedBytes += object.size
}

/** What a stored manifest needs (its signature is not needed to decide what to keep). */
async function needsOf(store: Store, key: string): Promise<ManifestNeeds | undefined> {
  const object = await store.get(key)
  if (!object || 'notModified' in object) return undefined
  try {
    const where = `${store.location} ${key}`
    return needsOfManifest(
      manifestOf(parseEnvelope(await readLimited(object.body, MAX_ENVELOPE_BYTES, where), where), where),
    )
  } catch (error) {
    if (error instanceof VerificationError) return undefined
    throw error
  }
}

/** The bundle keys a stored sealed index names (its signature is not needed to decide what to keep). */
async function bundlesOf(store: Store, key: string): Promise<string[] | undefined> {
  const object = await store.get(key)
  if (!object || 'notModified' in object) return undefined
  try {
    const where = `${store.location} ${key}`
    const envelope = parseSealedEnvelope(await readLimited(object.body, MAX_INDEX_BYTES, where), where, MAX_INDEX_BYTES)
    return Object.values(payloadOf(envelope, INDEX_PAYLOAD_TYPE, indexSchema, where).entries).map((entry) => entry.key)
  } catch (error) {
    if (error instanceof PupistryError) return undefined
    throw error
  }
}
