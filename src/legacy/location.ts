import type {Side, Store} from '../contracts.js'
import {readLimited} from '../format/pointer.js'
import type {Runtime} from '../runtime.js'
import {openAt, openStore} from '../store/open-store.js'
import {LEGACY_POINTER, type LegacyManifest, MAX_LEGACY_POINTER_BYTES, parseLegacyManifest} from './layout.js'

/** Where the Ruby tool's objects are: a store, and the text its keys start with there. */
export interface LegacyLocation {
  store: Store
  /** Put in front of every Ruby object's name (the raw `s3_prefix` when it does not end in `/`). */
  keyPrefix: string
}

export function legacyKey(location: LegacyLocation, name: string): string {
  return `${location.keyPrefix}${name}`
}

/**
 * The Ruby tool put its objects at `s3_prefix` + name, adding no `/`, while
 * pupistry's store treats the prefix as a folder (`s3_prefix/`). When the
 * prefix does not end in `/`, the Ruby objects lie beside that folder, so
 * they are reached from the bucket's root. A `general.storage` URL or an
 * `agent.storage` mirror has no Ruby prefix: the objects are at its top.
 */
export async function openLegacyStore(runtime: Runtime, side: Side): Promise<LegacyLocation> {
  const {agent, general} = runtime.settings
  const raw = (general.s3_prefix ?? '').replace(/^\/+/, '')
  const mirrored = side === 'agent' && Boolean(agent.storage)
  if (general.storage || mirrored || !general.s3_bucket || raw === '' || raw.endsWith('/')) {
    return {keyPrefix: '', store: await openStore(runtime, side)}
  }

  return {keyPrefix: raw, store: await openAt(runtime, new URL(`s3://${general.s3_bucket}/`), side)}
}

/** The Ruby layout's pointer as published, or undefined when there is none. */
export async function readLegacyPointer(location: LegacyLocation): Promise<LegacyManifest | undefined> {
  const key = legacyKey(location, LEGACY_POINTER)
  const object = await location.store.get(key, {mutable: true})
  if (!object || 'notModified' in object) return undefined
  const where = `${location.store.location} ${key}`
  return parseLegacyManifest(await readLimited(object.body, MAX_LEGACY_POINTER_BYTES, where), where)
}

/** The warning every run with agent.legacy_store gives, and doctor repeats. */
export function legacyStoreWarning(where: string): string {
  return (
    `agent.legacy_store is true: this node installs the Ruby tool's releases from ${where}. That layout has ` +
    'no serials, expiry, or environment and store binding, and its pointer is not signed: move the build side ' +
    "to pupistry's own layout, then remove agent.legacy_store (docs/migration.md)"
  )
}
