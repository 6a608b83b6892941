import path from 'node:path'
import {pathToFileURL} from 'node:url'

import type {Side, StorageDescriptor, Store} from '../contracts.js'
import {expandHome, settingsSource} from '../config/settings.js'
import {fromProviderError, SettingsError, StoreError} from '../errors.js'
import {providerContext, type Runtime} from '../runtime.js'
import {redactUrl} from '../util/redact.js'

/**
 * The store URL from settings: `general.storage` (a URL or a plain path), or
 * for settings written for the Ruby tool, `s3://<s3_bucket>/<s3_prefix>`.
 * Agents read from `agent.storage` instead when it is set (a mirror).
 */
export function storeUrl(runtime: Runtime, side: Side = 'build'): URL {
  const {agent, general} = runtime.settings
  const where = settingsSource(runtime.settings)
  if (side === 'agent' && agent.storage) return parseStorage(agent.storage, 'agent.storage', where)
  if (general.storage) return parseStorage(general.storage, 'general.storage', where)
  if (general.s3_bucket) {
    const prefix = (general.s3_prefix ?? '').replace(/^\/+/, '')
    return new URL(`s3://${general.s3_bucket}/${prefix}`)
  }

  throw new SettingsError(
    `no store configured in ${where}: set general.storage (e.g. file:///srv/pupistry) or general.s3_bucket`,
    {
      hint: runtime.settings.file ? undefined : 'run `pupistry setup` to write an example settings file',
    },
  )
}

function parseStorage(value: string, key: string, where: string): URL {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return pathToFileURL(path.resolve(expandHome(value)))
  try {
    return new URL(value)
  } catch {
    throw new SettingsError(`${key} in ${where} is not a valid URL: ${redactUrl(value)}`)
  }
}

export async function openStore(runtime: Runtime, side: Side): Promise<Store> {
  const store = await openAt(runtime, storeUrl(runtime, side), side)
  const {agent, general} = runtime.settings
  if (side !== 'agent' || !agent.storage || !(general.storage || general.s3_bucket)) return store
  // A mirror serves a copy of the store in general.storage: manifests stay bound to that store's prefix.
  const url = storeUrl(runtime, 'build')
  const descriptor = await storeDescriptor(runtime, url)
  if (descriptor.prefixOf) {
    try {
      return {...store, prefix: descriptor.prefixOf(url, providerContext(runtime, side, descriptor.name).settings)}
    } catch (error) {
      throw fromProviderError(error, `storage provider ${descriptor.name}`)
    }
  }

  return {...store, prefix: (await openAt(runtime, url, side)).prefix}
}

/** The provider of a store URL, by its scheme. */
export async function storeDescriptor(runtime: Runtime, url: URL): Promise<StorageDescriptor> {
  const scheme = url.protocol.replace(/:$/, '')
  const providers = await runtime.registry.list('storage')
  const found =
    providers.find((entry) => entry.descriptor.schemes.includes(scheme)) ??
    (await runtime.registry.get('storage', scheme))
  return found.descriptor
}

/** A store at this URL, whatever the settings name (the Ruby layout may live above the configured prefix). */
export async function openAt(runtime: Runtime, url: URL, side: Side): Promise<Store> {
  const descriptor = await storeDescriptor(runtime, url)
  try {
    return guarded(await descriptor.create(url, providerContext(runtime, side, descriptor.name)))
  } catch (error) {
    throw fromProviderError(error, `storage provider ${descriptor.name}`)
  }
}

/** True when a create-only write failed because the key already exists. */
export function isCreateConflict(error: unknown): boolean {
  return error instanceof StoreError && error.reason === 'conflict'
}

/** Turns every error a store throws into the core's typed error, once. */
function guarded(store: Store): Store {
  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn.apply(store, args)
      } catch (error) {
        throw fromProviderError(error, store.location, StoreError)
      }
    }

  return {
    delete: wrap(store.delete),
    discard: store.discard ? wrap(store.discard) : undefined,
    exposure: store.exposure ? wrap(store.exposure) : undefined,
    get: wrap(store.get),
    head: wrap(store.head),
    incomplete: store.incomplete ? wrap(store.incomplete) : undefined,
    list: wrap(store.list),
    location: store.location,
    prefix: store.prefix,
    put: wrap(store.put),
  }
}
