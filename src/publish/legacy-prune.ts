import type {ObjectInfo} from '../contracts.js'
import {VerificationError} from '../errors.js'
import type {Runtime} from '../runtime.js'
import {parseLegacyName} from '../legacy/layout.js'
import {type LegacyLocation, openLegacyStore, readLegacyPointer} from '../legacy/location.js'

export interface LegacyPruneOptions {
  /** Versions kept besides the live one: the most recently written. */
  keep: number
  dryRun: boolean
  /** Objects younger than this stay (a push may be writing them). */
  graceSeconds: number
  now?: Date
}

export interface LegacyPruneResult {
  location: string
  /** The version manifest.latest.yaml names, when it could be read. */
  live?: string
  kept: string[]
  deleted: ObjectInfo[]
  freedBytes: number
  /** Why nothing was pruned, when so. */
  skipped?: string
}

interface Version {
  version: string
  objects: ObjectInfo[]
  /** The newest write time among its objects; undefined when the store does not date them. */
  modified?: number
}

/**
 * `prune --legacy`: retires the Ruby tool's old `manifest.<md5>.yaml` and
 * `artifact.<md5>.tar.gz`. Never the live version (read again before each
 * deletion pass), the pointer, a public key, anything younger than the grace
 * period or undated, or the `keep` most recent other versions.
 */
export async function pruneLegacy(runtime: Runtime, options: LegacyPruneOptions): Promise<LegacyPruneResult> {
  return pruneLegacyAt(runtime, await openLegacyStore(runtime, 'build'), options)
}

export async function pruneLegacyAt(
  runtime: Pick<Runtime, 'log'>,
  location: LegacyLocation,
  options: LegacyPruneOptions,
): Promise<LegacyPruneResult> {
  const result: LegacyPruneResult = {deleted: [], freedBytes: 0, kept: [], location: location.store.location}
  const live = await liveVersion(location)
  if ('skip' in live) {
    runtime.log.warn(`Ruby layout: ${live.skip}; nothing pruned`)
    return {...result, skipped: live.skip}
  }

  result.live = live.version
  const versions = await listVersions(location)
  const cutoff = (options.now ?? new Date()).getTime() - options.graceSeconds * 1000
  const others = versions
    .filter((entry) => entry.version !== live.version)
    .sort((a, b) => (b.modified ?? Number.POSITIVE_INFINITY) - (a.modified ?? Number.POSITIVE_INFINITY))
  const recent = new Set(others.slice(0, options.keep).map((entry) => entry.version))
  const doomed = others.filter(
    (entry) => !recent.has(entry.version) && entry.modified !== undefined && entry.modified <= cutoff,
  )
  result.kept = versions.map((entry) => entry.version).filter((version) => !doomed.some((d) => d.version === version))

  // Manifests first, so an interrupted prune never leaves a manifest naming a missing artifact.
  const byKind = (kind: 'manifest' | 'artifact') =>
    doomed.flatMap((entry) =>
      entry.objects.filter((object) => parseLegacyName(nameOf(location, object))?.kind === kind),
    )
  for (const object of byKind('manifest')) await remove(location, object, result, options.dryRun)
  // A push may have made one of them live meanwhile: its artifact stays.
  const again = await liveVersion(location)
  for (const object of byKind('artifact')) {
    if ('version' in again && parseLegacyName(nameOf(location, object))?.version === again.version) continue
    await remove(location, object, result, options.dryRun)
  }

  return result
}

async function liveVersion(location: LegacyLocation): Promise<{version: string} | {skip: string}> {
  try {
    const live = await readLegacyPointer(location)
    return live ? {version: live.version} : {skip: `no manifest.latest.yaml at ${location.store.location}`}
  } catch (error) {
    if (error instanceof VerificationError) return {skip: `the live pointer is not valid (${error.message})`}
    throw error
  }
}

function nameOf(location: LegacyLocation, object: ObjectInfo): string {
  return object.key.slice(location.keyPrefix.length)
}

/** The Ruby objects at the location, by version; nothing of any other shape. */
async function listVersions(location: LegacyLocation): Promise<Version[]> {
  const byVersion = new Map<string, Version>()
  for (const object of await location.store.list(location.keyPrefix)) {
    if (!object.key.startsWith(location.keyPrefix)) continue
    const parsed = parseLegacyName(nameOf(location, object))
    if (!parsed) continue
    const entry = byVersion.get(parsed.version) ?? {objects: [], version: parsed.version}
    entry.objects.push(object)
    byVersion.set(parsed.version, entry)
  }

  for (const entry of byVersion.values()) {
    const times = entry.objects.map((object) => object.modified?.getTime())
    entry.modified = times.includes(undefined) ? undefined : Math.max(...(times as number[]))
  }

  return [...byVersion.values()]
}

async function remove(
  location: LegacyLocation,
  object: ObjectInfo,
  result: LegacyPruneResult,
  dryRun: boolean,
): Promise<void> {
  if (!dryRun) await location.store.delete(object.key)
  result.deleted.push(object)
  result.freedBytes += object.size
}
