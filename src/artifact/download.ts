import {createHash} from 'node:crypto'
import {open, rm} from 'node:fs/promises'

import type {Store} from '../contracts.js'
import {isDiskFull, LocalDiskError, PupistryError, StoreError, VerificationError} from '../errors.js'
import type {Manifest} from '../format/manifest.js'
import {abortable} from '../util/abort.js'

/**
 * Streams the artifact into a temporary file while hashing it, stopping as
 * soon as it is longer than signed. Nothing is parsed: the caller unpacks only
 * after this returns, i.e. after hash and size matched the signed manifest.
 * A rejected download is deleted, never kept for reuse.
 */
export async function downloadArtifact(
  store: Store,
  manifest: Manifest,
  file: string,
  options: {signal?: AbortSignal; started?: () => void; onBytes?: (bytes: number) => void} = {},
): Promise<void> {
  const {signal} = options
  const {key, sha256, size} = manifest.artifact
  const result = await abortable(store.get(key), signal, (late) => {
    if (late && 'body' in late) late.body.destroy()
  })
  if (!result || 'notModified' in result) {
    throw new StoreError(`artifact ${key} named by the manifest is missing from ${store.location}`)
  }

  // Abandoning (the agent stops, or the run timed out) ends the transfer at once. It may come while nothing
  // listens to the body yet (the file is being opened): the loop below still sees the error, so a stream
  // destroyed then must not also count as an unhandled 'error' event, which would end the daemon.
  const abandon = () => {
    result.body.on('error', () => {})
    result.body.destroy(signal?.reason)
  }
  signal?.addEventListener('abort', abandon, {once: true})

  const hash = createHash('sha256')
  const handle = await open(file, 'wx', 0o600)
  let received = 0
  try {
    for await (const chunk of result.body) {
      const bytes = chunk as Buffer
      received += bytes.length
      if (received > size) {
        result.body.destroy()
        throw new VerificationError(`artifact ${key} is longer than the ${size} bytes signed in the manifest; refused`)
      }

      hash.update(bytes)
      await handle.write(bytes)
      if (received === bytes.length) options.started?.()
      options.onBytes?.(bytes.length)
    }

    if (received !== size)
      throw new VerificationError(`artifact ${key} is ${received} bytes, the manifest signed ${size}; refused`)
    const actual = hash.digest('hex')
    if (actual !== sha256)
      throw new VerificationError(`artifact ${key} has SHA-256 ${actual}, the manifest signed ${sha256}; refused`)
    await handle.sync()
  } catch (error) {
    await handle.close().catch(() => {})
    await rm(file, {force: true})
    if (signal?.aborted) throw signal.reason
    if (error instanceof PupistryError) throw error
    if (isDiskFull(error))
      throw new LocalDiskError(
        `no room to download ${key} to ${file} (${(error as Error).message}); the installed release is unchanged`,
      )
    // The body stopped coming (a dropped connection, a stalled server): the store is, for now, unreachable.
    const message = `download of ${key} from ${store.location} failed after ${received} bytes: ${(error as Error).message}`
    throw new StoreError(message, {cause: error, reason: 'unreachable'})
  } finally {
    signal?.removeEventListener('abort', abandon)
  }

  await handle.close()
}
