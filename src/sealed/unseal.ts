import {createHash} from 'node:crypto'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {posix} from 'node:path'
import path from 'node:path'

import type {Store} from '../contracts.js'
import {PupistryError, SealedDataError, StoreError} from '../errors.js'
import type {Envelope} from '../format/envelope.js'
import type {SealedIndexRef} from '../format/manifest.js'
import {readLimited} from '../format/pointer.js'
import {checkEnvelope, type NodeKeys} from '../signing/signing.js'
import {decryptWith} from './crypto.js'
import {
  BUNDLE_PAYLOAD_TYPE,
  bundleSchema,
  INDEX_PAYLOAD_TYPE,
  indexSchema,
  MAX_BUNDLE_BYTES,
  MAX_INDEX_BYTES,
  memberTag,
  parseSealedEnvelope,
  payloadOf,
} from './format.js'
import {within} from './hiera-config.js'
import type {NodeKey} from './node-keys.js'

/** What a node's bundle gave it, checked: its files and the facts they were selected with. */
export interface Unsealed {
  files: Array<{path: string; content: Buffer}>
  facts: Record<string, unknown>
  trusted: Record<string, unknown>
  bundle: {key: string; sha256: string; size: number}
}

/**
 * The node's sealed data for a manifest it has verified, read top to bottom:
 * the index (as signed in the manifest; signed by a trusted key; same
 * environment and version), the node's own entry, the bundle (as signed in
 * the index), decrypted with the node's key, signed inside by a trusted
 * key, and a header naming this environment, this node among its
 * recipients and only paths the release protects. Any failure is a refusal.
 */
export async function unseal(job: {
  environment: string
  version: string
  index: SealedIndexRef
  store: Store
  keys: NodeKeys
  nodeKeys: NodeKey[]
  /** The data directories of the release's hiera.yaml, and its files: where sealed paths may (not) be. */
  datadirs: string[]
  releaseHas: (relative: string) => Promise<boolean>
  cacheDir: string
}): Promise<Unsealed> {
  const {environment} = job
  const indexWhere = `the sealed index of ${environment} (${job.index.key})`
  const indexBytes = await fetchPinned(job.store, job.index, job.cacheDir, indexWhere)
  const indexEnvelope = parseSealedEnvelope(indexBytes, indexWhere, MAX_INDEX_BYTES)
  await requireTrustedSignature(indexEnvelope, indexWhere, job.keys)
  const index = payloadOf(indexEnvelope, INDEX_PAYLOAD_TYPE, indexSchema, indexWhere)
  if (index.environment !== environment || index.version !== job.version) {
    throw new SealedDataError(
      `${indexWhere} was made for ${index.environment} version ${index.version.slice(0, 12)}, not for ` +
        `${environment} version ${job.version.slice(0, 12)}; refused`,
    )
  }

  const mine = job.nodeKeys
    .map((key) => ({entry: index.entries[memberTag(key.fingerprint, environment)], key}))
    .find((found) => found.entry !== undefined)
  if (!mine?.entry) {
    throw new SealedDataError(
      `${environment}: this node (key ${job.nodeKeys.map((key) => key.fingerprint).join(', ')}) has no entry in the sealed index`,
      {
        hint:
          'the node is not registered in hieracrypt/nodes/ for this environment, was revoked, or has a new ' +
          'key: commit the output of `pupistry node init` and build again',
      },
    )
  }

  const bundleWhere = `the sealed bundle of ${environment} (${mine.entry.key})`
  if (!mine.entry.key.startsWith(`pupistry/${environment}/`))
    throw new SealedDataError(`${bundleWhere} is not a bundle of ${environment}; refused`)
  const ciphertext = await fetchPinned(job.store, mine.entry, job.cacheDir, bundleWhere)
  const plain = await decryptWith(ciphertext, mine.key.secretKey, bundleWhere)
  const envelope = parseSealedEnvelope(plain, bundleWhere, MAX_BUNDLE_BYTES)
  await requireTrustedSignature(envelope, bundleWhere, job.keys)
  const bundle = payloadOf(envelope, BUNDLE_PAYLOAD_TYPE, bundleSchema, bundleWhere)
  if (bundle.environment !== environment)
    throw new SealedDataError(`${bundleWhere} was sealed for environment ${bundle.environment}; refused`)
  const recipient = bundle.recipients.find((item) => item.fingerprint === mine.key.fingerprint)
  if (!recipient) throw new SealedDataError(`${bundleWhere} does not name this node among its recipients; refused`)
  const files: Unsealed['files'] = []
  for (const file of bundle.files) {
    await checkSealedPath(file.path, job.datadirs, job.releaseHas, bundleWhere)
    files.push({content: Buffer.from(file.content, 'base64'), path: file.path})
  }

  return {bundle: mine.entry, facts: recipient.facts, files, trusted: recipient.trusted ?? {}}
}

/** A sealed path must be a plain relative path inside a protected data directory, and not a file of the release. */
async function checkSealedPath(
  file: string,
  datadirs: string[],
  releaseHas: (relative: string) => Promise<boolean>,
  where: string,
): Promise<void> {
  const normal = posix.normalize(file)
  const safe =
    normal === file &&
    !posix.isAbsolute(file) &&
    !file.split('/').some((part) => part === '..' || part === '.' || part === '') &&
    datadirs.some((dir) => within(posix.dirname(file), dir))
  if (!safe) throw new SealedDataError(`${where} holds a path outside the protected data directories; refused`)
  if (await releaseHas(file))
    throw new SealedDataError(`${where} holds a path the release itself has (public data); refused`)
}

/** A signed envelope is required here even if the node skips manifest signatures: sealed data is never unsigned. */
async function requireTrustedSignature(envelope: Envelope, where: string, keys: NodeKeys): Promise<void> {
  try {
    const trust = await checkEnvelope(envelope, where, keys)
    if (!trust.signed) throw new SealedDataError(`${where}: sealed data is only accepted signed by a trusted key`)
  } catch (error) {
    if (error instanceof SealedDataError) throw error
    if (error instanceof PupistryError) throw new SealedDataError(error.message, {cause: error, hint: error.hint})
    throw error
  }
}

/**
 * An object by its signed size and SHA-256: from the agent's cache when it
 * holds it (a reboot needs no store read), else from the store, cached once
 * it matched.
 */
async function fetchPinned(
  store: Store,
  ref: {key: string; sha256: string; size: number},
  cacheDir: string,
  where: string,
): Promise<Buffer> {
  const cached = path.join(cacheDir, `${ref.sha256}${path.extname(ref.key)}`)
  const local = await readFile(cached).catch(() => undefined)
  if (local && local.length === ref.size && sha256(local) === ref.sha256) return local
  const result = await store.get(ref.key)
  if (!result || 'notModified' in result) throw new StoreError(`${where} is missing from ${store.location}`)
  let bytes: Buffer
  try {
    bytes = await readLimited(result.body, ref.size, where)
  } catch (error) {
    if (error instanceof PupistryError) throw new SealedDataError(`${error.message}; refused`)
    throw error
  }

  if (bytes.length !== ref.size || sha256(bytes) !== ref.sha256)
    throw new SealedDataError(`${where} does not have the size and SHA-256 that were signed; refused`)
  await mkdir(cacheDir, {mode: 0o700, recursive: true})
  const temp = `${cached}.${process.pid}.tmp`
  await writeFile(temp, bytes, {mode: 0o600})
  await rename(temp, cached)
  return bytes
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
