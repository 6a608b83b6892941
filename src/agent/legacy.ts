import {createHash} from 'node:crypto'
import {mkdir, open, readdir, readFile, rm} from 'node:fs/promises'

import {gunzipMember} from '../artifact/gzip-member.js'
import type {Store} from '../contracts.js'
import {
  fromProviderError,
  isDiskFull,
  LocalDiskError,
  NotFoundError,
  PupistryError,
  StoreError,
  VerificationError,
} from '../errors.js'
import {LEGACY_POINTER, type LegacyManifest, legacyArtifactName} from '../legacy/layout.js'
import {
  type LegacyLocation,
  legacyKey,
  legacyStoreWarning,
  openLegacyStore,
  readLegacyPointer,
} from '../legacy/location.js'
import type {Runtime} from '../runtime.js'
import type {NodeKeys} from '../signing/signing.js'
import {abortable} from '../util/abort.js'
import {shortVersion as short} from '../util/version.js'
import {activateRelease} from './activate.js'
import type {ApplyResult, InstallJob} from './apply.js'

/** agent.legacy_max_size's default: the largest Ruby artifact (and uncompressed tar) a node takes. */
export const DEFAULT_LEGACY_MAX_SIZE = 1024 ** 3

/** Replaced versions remembered per environment: far more than a migration's worth of releases. */
const REPLACED_KEPT = 200

export interface LegacyJob extends InstallJob {
  allowDowngrade?: boolean
}

/**
 * `agent.legacy_store`: installs the newest release of the Ruby tool's
 * layout, with every defence that layout allows, in this order: the pointer
 * parsed strictly; a version this node replaced is refused (no rollback
 * unless asked); a signature required unless this node set gpg_disable; the
 * artifact downloaded up to agent.legacy_max_size; its signature checked
 * against general.trusted_keys only (a `*.publickey` in the store is never
 * read); the MD5 of its tar compared with the version; only then
 * `puppetcode/<env>/` extracted under the usual rules and activated atomically.
 */
export async function installLegacy(runtime: Runtime, job: LegacyJob): Promise<ApplyResult> {
  const {environment, state} = job
  const {signal, stateFile} = job.control
  const location = await openLegacyStore(runtime, 'agent')
  const pointer = `${location.store.location} ${legacyKey(location, LEGACY_POINTER)}`
  runtime.log.warn(legacyStoreWarning(pointer))
  if (state.pinned) {
    runtime.log.info(`${environment}: pinned to ${short(state.pinned.version)} by rollback; \`apply --unpin\` lifts it`)
    return {action: 'current', environment, legacy: true, pinned: true, version: state.pinned.version}
  }

  const manifest = await abortable(readLegacyPointer(location), signal)
  if (!manifest) {
    throw new NotFoundError(`nothing is published in the Ruby layout at ${pointer}`, {
      hint: 'check general.s3_prefix, or remove agent.legacy_store to read pupistry’s own layout',
    })
  }

  const {version} = manifest
  if (!job.force && job.active?.version === version) return {action: 'current', environment, legacy: true, version}
  if (state.legacyReplaced?.includes(version) && !job.allowDowngrade) {
    throw new VerificationError(
      `${environment}: ${pointer} offers version ${version}, which this node already replaced with a newer ` +
        'one; refusing a rollback (--allow-downgrade accepts it)',
    )
  }

  const signature = requiredSignature(runtime, manifest, job.keys, pointer)
  let dir = job.force ? undefined : await job.releases.find(environment, version)
  let signedBy: string | undefined
  if (!dir) {
    runtime.log.info(`${environment}: downloading Ruby-layout version ${short(version)}`)
    ;({dir, signedBy} = await fetchLegacy(runtime, location, {...job, signal, signature, version}))
  }

  const by = signedBy ? `, signed by ${signedBy}` : ''
  await activateRelease(runtime, {...job, signal}, dir, version, `Ruby-layout version ${short(version)}${by}`)
  const replaced = state.version && state.version !== version ? [state.version] : []
  await stateFile.update(environment, {
    expires: null,
    installedAt: new Date().toISOString(),
    legacy: true,
    legacyReplaced: [...(state.legacyReplaced ?? []).filter((each) => each !== version), ...replaced].slice(
      -REPLACED_KEPT,
    ),
    version,
  })
  return {action: 'installed', environment, legacy: true, signedBy, version}
}

/** The signature to check, before anything is downloaded: never fails open. */
function requiredSignature(
  runtime: Runtime,
  manifest: LegacyManifest,
  keys: NodeKeys,
  pointer: string,
): Buffer | undefined {
  if (keys.disabled) {
    runtime.log.warn("general.gpg_disable is true on this node: the Ruby artifact's signature will NOT be checked")
    return undefined
  }

  if (keys.trusted.length === 0) {
    throw new VerificationError(`no trusted keys configured (${keys.setting}): refusing ${pointer}`, {
      hint: "list the Ruby tool's signing key (exported armoured public key) in general.trusted_keys",
    })
  }

  if (!manifest.signature)
    throw new VerificationError(`${pointer} is unsigned (gpgsig: unsigned), and this node only accepts signed releases`)
  return manifest.signature
}

/** Download, verify, check the MD5 and unpack `puppetcode/<env>/` into staging, then commit: failures leave nothing. */
async function fetchLegacy(
  runtime: Runtime,
  location: LegacyLocation,
  job: LegacyJob & {signal: AbortSignal; signature?: Buffer; version: string},
): Promise<{dir: string; signedBy?: string}> {
  const {environment, releases, signal, version} = job
  const maxSize = runtime.settings.agent.legacy_max_size ?? DEFAULT_LEGACY_MAX_SIZE
  const key = legacyKey(location, legacyArtifactName(version))
  const download = await releases.scratch(environment, 'download')
  const staging = await releases.scratch(environment, 'staging')
  try {
    await downloadCapped(location.store, key, download, maxSize, signal)
    const signedBy = job.signature ? await verifySignature(job.keys, download, job.signature, key) : undefined
    const md5 = await md5OfTar(download, maxSize, key)
    if (md5 !== version)
      throw new VerificationError(`${key}: its tar has MD5 ${md5}, not the version ${version} it is named for; refused`)
    await mkdir(staging, {mode: 0o755})
    const {unpackInThread} = await import('./unpack-thread.js')
    const root = `puppetcode/${environment}`
    const shape = {gzipHeaderFields: true, root}
    await unpackInThread({dest: staging, file: download, limits: {unpackedSize: maxSize}, shape}, signal)
    if ((await readdir(staging)).length === 0)
      throw new NotFoundError(`${key} holds no ${root}/: the Ruby tool did not build environment ${environment}`)
    signal.throwIfAborted()
    return {dir: await releases.commit(staging, environment, version), signedBy}
  } finally {
    await rm(download, {force: true}).catch(() => {})
    await rm(staging, {force: true, recursive: true}).catch(() => {})
  }
}

/** Verified against this node's trusted keys only: the Ruby agent's `*.publickey` in the store is never read. */
async function verifySignature(keys: NodeKeys, file: string, signature: Buffer, key: string): Promise<string> {
  const by = await keys.verify(await readFile(file), {keyid: '', sig: signature}, keys.trusted).catch((error) => {
    throw fromProviderError(error, 'verifying signature', VerificationError)
  })
  if (!by) throw new VerificationError(`${key}: no valid signature by a trusted key (${keys.setting}); refused`)
  return `${by.identity} (${by.keyid})`
}

async function md5OfTar(file: string, maxSize: number, key: string): Promise<string> {
  const hash = createHash('md5')
  let total = 0
  for await (const chunk of gunzipMember(file, undefined, {headerFields: true})) {
    total += chunk.length
    if (total > maxSize)
      throw new VerificationError(`${key} unpacks to more than agent.legacy_max_size (${maxSize} bytes); refused`)
    hash.update(chunk)
  }

  return hash.digest('hex')
}

/** Streams an object to a private file, stopping as soon as it is larger than `maxSize`. */
async function downloadCapped(
  store: Store,
  key: string,
  file: string,
  maxSize: number,
  signal: AbortSignal,
): Promise<void> {
  const result = await abortable(store.get(key), signal, (late) => {
    if (late && 'body' in late) late.body.destroy()
  })
  if (!result || 'notModified' in result) throw new StoreError(`${key} is missing from ${store.location}`)
  const tooLarge = () =>
    new VerificationError(`${key} is larger than agent.legacy_max_size (${maxSize} bytes); refused`)
  if (result.size > maxSize) {
    result.body.destroy()
    throw tooLarge()
  }

  const abandon = () => {
    result.body.on('error', () => {})
    result.body.destroy(signal.reason)
  }
  signal.addEventListener('abort', abandon, {once: true})
  const handle = await open(file, 'wx', 0o600)
  let received = 0
  try {
    for await (const chunk of result.body) {
      received += (chunk as Buffer).length
      if (received > maxSize) {
        result.body.destroy()
        throw tooLarge()
      }

      await handle.write(chunk as Buffer)
    }
  } catch (error) {
    if (signal.aborted) throw signal.reason
    if (error instanceof PupistryError) throw error
    if (isDiskFull(error))
      throw new LocalDiskError(`no room to download ${key} to ${file} (${(error as Error).message})`)
    throw new StoreError(`download of ${key} from ${store.location} failed after ${received} bytes`, {
      cause: error,
      reason: 'unreachable',
    })
  } finally {
    signal.removeEventListener('abort', abandon)
    await handle.close()
  }
}
