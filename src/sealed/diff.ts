import {readFile} from 'node:fs/promises'

import {byteOrder} from '../artifact/tree.js'
import type {SealedIndexRef} from '../format/manifest.js'
import {type Ledger, ledgerPath} from './seal.js'

export interface SealedDiff {
  /** Per node or group: protected files it can read now and could not before, and the reverse. */
  readers: Array<{reader: string; added: string[]; removed: string[]}>
  /** Protected files whose content changed (their content is never shown). */
  changed: string[]
  /** The published index is not in this build machine's records: reader changes cannot be shown. */
  unknownPublished?: boolean
}

/**
 * What changed in the sealed data between what is published and what is
 * built, from the build cache's records of both indexes: the review signal
 * is which reader gains or loses which file (a hiera.yaml change that hands
 * role/db.yaml to web nodes), plus which files changed, never their content.
 */
export async function diffSealed(
  cacheDir: string,
  built: SealedIndexRef | undefined,
  published: SealedIndexRef | undefined,
): Promise<SealedDiff | undefined> {
  if (!built && !published) return undefined
  const read = async (ref?: SealedIndexRef): Promise<Ledger | undefined> =>
    ref
      ? readFile(ledgerPath(cacheDir, ref.sha256), 'utf8')
          .then((text) => JSON.parse(text) as Ledger)
          .catch(() => undefined)
      : {digests: {}, environment: '', readers: {}}
  const after = await read(built)
  const before = await read(published)
  if (!after) return undefined
  if (!before) return {changed: [], readers: [], unknownPublished: true}
  const names = [...new Set([...Object.keys(before.readers), ...Object.keys(after.readers)])].sort(byteOrder)
  const readers: SealedDiff['readers'] = []
  for (const reader of names) {
    const old = new Set(before.readers[reader] ?? [])
    const now = new Set(after.readers[reader] ?? [])
    const added = [...now].filter((file) => !old.has(file))
    const removed = [...old].filter((file) => !now.has(file))
    if (added.length > 0 || removed.length > 0) readers.push({added, reader, removed})
  }

  const changed = Object.keys(after.digests)
    .filter((file) => before.digests[file] !== undefined && before.digests[file] !== after.digests[file])
    .sort(byteOrder)
  return {changed, readers}
}
