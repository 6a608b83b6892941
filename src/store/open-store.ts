import path from 'node:path'
import {pathToFileURL} from 'node:url'

import type {Side, Store} from '../contracts.js'
import {expandHome, settingsSource} from '../config/settings.js'
import {fromProviderError, SettingsError, StoreError} from '../errors.js'
import {providerContext, type Runtime} from '../runtime.js'
import {redactUrl} from '../util/redact.js'

/**
 * The store URL from settings: `general.storage` (a URL or a plain path), or
 * for settings written for the Ruby tool, `s3://<s3_bucket>/<s3_prefix>`.
 */
export function storageUrl(runtime: Runtime): URL {
  const {general} = runtime.settings
  const where = settingsSource(runtime.settings)
  if (general.storage) {
    const value = general.storage
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      try {
        return new URL(value)
      } catch {
        throw new SettingsError(`general.storage in ${where} is not a valid URL: ${redactUrl(value)}`)
      }
    }

    return pathToFileURL(path.resolve(expandHome(value)))
  }

  if (general.s3_bucket) {
    const prefix = (general.s3_prefix ?? '').replace(/^\/+/, '')
    return new URL(`s3://${general.s3_bucket}/${prefix}`)
  }

  throw new SettingsError(`no store configured in ${where}: set general.storage (e.g. file:///srv/pupistry) or general.s3_bucket`, {
    hint: runtime.settings.file ? undefined : 'run `pupistry setup` to write an example settings file',
  })
}

export async function openStore(runtime: Runtime, side: Side): Promise<Store> {
  const url = storageUrl(runtime)
  const scheme = url.protocol.replace(/:$/, '')
  const providers = await runtime.registry.list('storage')
  const {descriptor} = providers.find((entry) => entry.descriptor.schemes.includes(scheme)) ?? (await runtime.registry.get('storage', scheme))
  try {
    return guarded(await descriptor.create(url, providerContext(runtime, side, descriptor.name)))
  } catch (error) {
    throw fromProviderError(error, `storage provider ${descriptor.name}`)
  }
}

/** True when a create-only write failed because the key already exists. */
export function isCreateConflict(error: unknown): boolean {
  const err = error as {code?: string; cause?: {code?: string}}
  return err?.code === 'EEXIST' || err?.cause?.code === 'EEXIST'
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
    get: wrap(store.get),
    head: wrap(store.head),
    list: wrap(store.list),
    location: store.location,
    prefix: store.prefix,
    put: wrap(store.put),
  }
}
