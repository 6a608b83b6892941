import {readFile} from 'node:fs/promises'

import type {Store} from '../contracts.js'
import {NotFoundError} from '../errors.js'
import type {BuildRecord, Manifest} from '../format/manifest.js'
import type {Runtime} from '../runtime.js'
import {cachedBundlePath, cachedIndexPath} from './seal.js'
import {INDEX_PAYLOAD_TYPE, indexSchema, MAX_INDEX_BYTES, parseSealedEnvelope, payloadOf} from './format.js'

/** Is the sealed data the same as published (both none, or the same index)? */
export function sameSealed(live: Pick<Manifest, 'sealed'>, built: Pick<BuildRecord, 'sealed'>): boolean {
  return live.sealed?.index.sha256 === built.sealed?.index.sha256
}

/**
 * Uploads a build's sealed data before its manifest: every bundle the index
 * names, then the index, each only when the store does not hold it yet
 * (content-addressed, so an unchanged bundle is never sent again).
 */
export async function uploadSealed(
  runtime: Runtime,
  store: Store,
  cacheDir: string,
  record: BuildRecord,
): Promise<{uploaded: number}> {
  const ref = record.sealed?.index
  if (!ref) return {uploaded: 0}
  const missing = () =>
    new NotFoundError(`the sealed data of the build of ${record.environment} is missing from the build cache`, {
      hint: 'run `pupistry build` again',
    })
  const indexBytes = await readFile(cachedIndexPath(cacheDir, ref.sha256)).catch(() => {
    throw missing()
  })
  const where = `the sealed index of ${record.environment}`
  const index = payloadOf(
    parseSealedEnvelope(indexBytes, where, MAX_INDEX_BYTES),
    INDEX_PAYLOAD_TYPE,
    indexSchema,
    where,
  )
  let uploaded = 0
  const bundles = new Map(Object.values(index.entries).map((entry) => [entry.key, entry]))
  for (const [key, entry] of bundles) {
    if ((await store.head(key))?.size === entry.size) continue
    const bytes = await readFile(cachedBundlePath(cacheDir, entry.sha256)).catch(() => {
      throw missing()
    })
    await store.put(key, bytes, {contentType: 'application/octet-stream', size: bytes.length})
    uploaded++
  }

  if ((await store.head(ref.key))?.size !== ref.size) {
    await store.put(ref.key, indexBytes, {contentType: 'application/json', size: indexBytes.length})
    uploaded++
  }

  if (uploaded > 0) runtime.log.progress(`${record.environment}: uploaded ${uploaded} sealed objects`)
  return {uploaded}
}
