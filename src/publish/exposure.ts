import {readFile} from 'node:fs/promises'

import {BuildCache} from '../build/build-cache.js'
import {LAYOUT_ROOT, SEALED_INDEX_KEY_PATTERN} from '../format/layout.js'
import type {Runtime} from '../runtime.js'
import {byteOrder} from '../artifact/tree.js'
import {openStore} from '../store/open-store.js'
import {type Ledger, ledgerPath} from '../sealed/seal.js'

export interface Exposure {
  reader: string
  /** Every protected file the reader could decrypt from some index still in the store. */
  files: string[]
  indexes: Array<{environment: string; key: string; files: string[]}>
  /** Indexes in the store this build machine has no record of (built elsewhere, or its cache was cleared). */
  unknown: string[]
}

/**
 * `pupistry hieracrypt exposure NODE`: after a compromise, what could that
 * node read? Every index still in the store counts (a copied bundle stays
 * readable with the node's key); the build cache's record of each index
 * says which files each reader's bundle held.
 */
export async function exposureOf(runtime: Runtime, name: string, kind: 'node' | 'group'): Promise<Exposure> {
  const store = await openStore(runtime, 'build')
  const cache = new BuildCache(runtime.settings)
  const reader = `${kind} ${name}`
  const result: Exposure = {files: [], indexes: [], reader, unknown: []}
  const files = new Set<string>()
  for (const object of await store.list(`${LAYOUT_ROOT}/`)) {
    const match = SEALED_INDEX_KEY_PATTERN.exec(object.key)
    if (!match) continue
    const [, environment, sha256] = match
    const ledger = await readFile(ledgerPath(cache.dirOf(environment), sha256), 'utf8')
      .then((text) => JSON.parse(text) as Ledger)
      .catch(() => undefined)
    if (!ledger) {
      result.unknown.push(object.key)
      continue
    }

    const read = ledger.readers[reader]
    if (!read) continue
    result.indexes.push({environment, files: read, key: object.key})
    for (const file of read) files.add(`${environment}: ${file}`)
  }

  result.files = [...files].sort(byteOrder)
  result.unknown.sort(byteOrder)
  return result
}
