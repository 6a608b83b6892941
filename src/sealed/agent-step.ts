import {randomBytes} from 'node:crypto'
import {lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {ProviderLogger, Store} from '../contracts.js'
import {SealedDataError, StoreError} from '../errors.js'
import type {Manifest, SealedIndexRef} from '../format/manifest.js'
import type {NodeKeys} from '../signing/signing.js'
import {INDEX_PAYLOAD_TYPE, indexSchema, MAX_INDEX_BYTES, parseSealedEnvelope, payloadOf} from './format.js'
import {driftError, factDrift, flattenFacts, readFacts, readTrusted} from './facts.js'
import {parseHieraConfig} from './hiera-config.js'
import {insideDir, linkRelease, materialise, materialisedPath, overlayRelease, PREVIEW_PREFIX} from './materialise.js'
import {loadNodeKeys} from './node-keys.js'
import type {SealedNodeSettings} from './node-settings.js'
import {HIERA_FILE} from './plan.js'
import {type Unsealed, unseal} from './unseal.js'

/** What the agent remembers of the sealed data it materialised, to do it again after a reboot. */
interface SealedRecord {
  version: string
  index: SealedIndexRef
}

export interface SealedStepJob {
  environment: string
  releaseDir: string
  store: Store
  keys: NodeKeys
  settings: SealedNodeSettings
  log: Pick<ProviderLogger, 'info' | 'warn'>
  /** facter, for the drift check (tests point it elsewhere). */
  facter?: string
  /** puppet (agent.puppet), asked for the certname this run will use. */
  puppet: string
}

/**
 * Before a release with sealed data is activated: unseal the node's bundle,
 * check the live facts, materialise the files on the memory filesystem and
 * link them into the release. Any failure throws before activation, so
 * Puppet does not run and the previous release stays.
 */
export async function prepareSealed(job: SealedStepJob & {manifest: Manifest}): Promise<void> {
  const ref = job.manifest.sealed?.index
  if (!ref) return
  const record = {index: ref, version: job.manifest.version}
  await materialiseFor(job, record)
  // Its own manifest's sealed data, for a rollback to this release later.
  await writeRecord(releaseRecordFile(job.settings, job.environment, record.version), record)
}

/**
 * Before Puppet runs on the active release: if its sealed data is gone
 * (a reboot emptied the memory filesystem), materialise it again from the
 * agent's cache of verified ciphertext, with every check made again.
 */
export async function ensureSealed(job: SealedStepJob & {version: string}): Promise<void> {
  const record = await readRecord(recordFile(job.settings, job.environment))
  if (!record || record.version !== job.version) return
  const current = path.join(job.settings.sealedDir, job.environment, 'current')
  if (await stat(current).catch(() => undefined)) return
  job.log.info(`${job.environment}: sealed hiera data is not materialised (a reboot?); materialising it again`)
  await materialiseFor(job, record)
}

/**
 * Before a rollback activates a kept release: the sealed data of that
 * release's own manifest, from the cache or the store, checked as when it
 * was installed. A release linking sealed data this node has no record of
 * is refused: it would read whatever another release left materialised.
 */
export async function restoreSealed(job: SealedStepJob & {version: string}): Promise<void> {
  const record = await readRecord(releaseRecordFile(job.settings, job.environment, job.version))
  if (record) {
    try {
      return await materialiseFor(job, record)
    } catch (error) {
      if (!(error instanceof StoreError)) throw error
      throw new SealedDataError(
        `${job.environment}: the sealed data of release ${job.version.slice(0, 12)} is neither in the agent's ` +
          `cache nor readable in the store (${error.message}); refused`,
        {cause: error, hint: 'roll back to another kept release, or run `pupistry apply --unpin` for the newest one'},
      )
    }
  }

  if (await linksSealedData(job.releaseDir, job.settings.sealedDir)) {
    throw new SealedDataError(
      `${job.environment}: release ${job.version.slice(0, 12)} reads sealed hiera data, but this node has no ` +
        'record of which sealed data its manifest named; refused',
      {hint: 'roll back to another kept release, or run `pupistry apply --unpin` for the newest one'},
    )
  }
}

/**
 * After a release is activated and old releases removed: the agent's
 * records and cached ciphertext that no kept release can use again go, so
 * the cache stays as small as agent.keep_releases says. What the live
 * record and the kept releases' records name stays: the index, and every
 * bundle that index lists (only this node's was ever cached). A cached
 * index that cannot be read keeps nothing; its release re-downloads.
 */
export async function pruneSealedCache(
  settings: SealedNodeSettings,
  environment: string,
  keptVersions: string[],
): Promise<string[]> {
  const dir = path.join(settings.cacheDir, environment)
  const kept = new Set(keptVersions)
  const removed: string[] = []
  const records: SealedRecord[] = []
  const live = await readRecord(recordFile(settings, environment))
  if (live) records.push(live)
  for (const name of await readdir(path.join(dir, 'releases')).catch(() => [] as string[])) {
    const file = path.join(dir, 'releases', name)
    if (name.endsWith('.json') && kept.has(name.slice(0, -'.json'.length))) {
      const record = await readRecord(file)
      if (record) records.push(record)
      continue
    }

    await rm(file, {force: true})
    removed.push(path.join('releases', name))
  }

  const used = new Set<string>()
  for (const record of records) {
    used.add(record.index.sha256)
    for (const entry of await cachedIndexEntries(dir, record.index)) used.add(entry)
  }

  for (const entry of await readdir(dir, {withFileTypes: true}).catch(() => [])) {
    if (!entry.isFile() || entry.name === path.basename(recordFile(settings, environment))) continue
    if (used.has(entry.name.split('.')[0])) continue
    await rm(path.join(dir, entry.name), {force: true})
    removed.push(entry.name)
  }

  return removed
}

/** The SHA-256 of every bundle a cached index lists (its signature was checked when it was cached). */
async function cachedIndexEntries(dir: string, ref: SealedIndexRef): Promise<string[]> {
  try {
    const bytes = await readFile(path.join(dir, `${ref.sha256}${path.extname(ref.key)}`))
    const envelope = parseSealedEnvelope(bytes, ref.key, MAX_INDEX_BYTES)
    const index = payloadOf(envelope, INDEX_PAYLOAD_TYPE, indexSchema, ref.key)
    return Object.values(index.entries).map((entry) => entry.sha256)
  } catch {
    return []
  }
}

/** Does a kept release have sealed data to restore (or links to some it has no record of)? */
export async function releaseHasSealed(
  settings: SealedNodeSettings,
  environment: string,
  release: {dir: string; version: string},
): Promise<boolean> {
  if (await readRecord(releaseRecordFile(settings, environment, release.version))) return true
  return linksSealedData(release.dir, settings.sealedDir)
}

/**
 * For a --noop run: the candidate's sealed data, checked as for a real run,
 * materialised in a scratch generation beside (never instead of) the live
 * one, and an environment directory that shows the release with those
 * files in place of the live links. Returns that directory and its cleanup;
 * neither the release nor the live sealed data is touched.
 */
export async function previewSealed(
  job: SealedStepJob & {index: SealedIndexRef; version: string; overlayDir: string},
): Promise<{dir: string; cleanup: () => Promise<void>}> {
  const {environment, settings} = job
  const unsealed = await unsealChecked(job, {index: job.index, version: job.version})
  const prefix = `${PREVIEW_PREFIX}${environment}-`
  // Leftovers of a --noop run that was killed: only the lock holder of this environment makes them.
  for (const name of await readdir(settings.sealedDir).catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await rm(path.join(settings.sealedDir, name), {force: true, recursive: true})
  }

  const scratch = `${prefix}${process.pid}-${randomBytes(4).toString('hex')}`
  const cleanup = async () => {
    await rm(path.join(settings.sealedDir, scratch), {force: true, recursive: true})
    await rm(job.overlayDir, {force: true, recursive: true})
  }

  try {
    await materialise({
      allowDisk: settings.allowDisk,
      environment: scratch,
      files: unsealed.files,
      sealedDir: settings.sealedDir,
    })
    const links = new Map(
      unsealed.files.map((file) => [file.path, materialisedPath(settings.sealedDir, scratch, file.path)]),
    )
    await overlayRelease({links, overlayDir: job.overlayDir, releaseDir: job.releaseDir, sealedDir: settings.sealedDir})
  } catch (error) {
    await cleanup().catch(() => {})
    throw error
  }

  job.log.info(`${environment}: --noop sees the candidate's sealed hiera data (${unsealed.files.length} files)`)
  return {cleanup, dir: job.overlayDir}
}

/** Is this index the one materialised for the environment now? */
export async function isMaterialised(settings: SealedNodeSettings, environment: string, ref: SealedIndexRef) {
  return (await readRecord(recordFile(settings, environment)))?.index.sha256 === ref.sha256
}

async function materialiseFor(job: SealedStepJob, record: SealedRecord): Promise<void> {
  const {environment, settings} = job
  const unsealed = await unsealChecked(job, record)
  await materialise({allowDisk: settings.allowDisk, environment, files: unsealed.files, sealedDir: settings.sealedDir})
  await linkRelease({
    environment,
    paths: unsealed.files.map((file) => file.path),
    releaseDir: job.releaseDir,
    sealedDir: settings.sealedDir,
  })
  await writeRecord(recordFile(settings, environment), record)
  job.log.info(`${environment}: sealed hiera data materialised (${unsealed.files.length} files)`)
}

/** The node's bundle for a release, unsealed, with the live facts and trusted data checked against the registered ones. */
async function unsealChecked(job: SealedStepJob, record: SealedRecord): Promise<Unsealed> {
  const {environment, settings} = job
  const datadirs = await releaseDatadirs(job.releaseDir, environment)
  const unsealed = await unseal({
    cacheDir: path.join(settings.cacheDir, environment),
    datadirs,
    environment,
    index: record.index,
    keys: job.keys,
    nodeKeys: await loadNodeKeys(settings),
    releaseHas: async (relative) => {
      const info = await lstat(path.join(job.releaseDir, relative)).catch(() => undefined)
      return Boolean(info && !info.isSymbolicLink())
    },
    store: job.store,
    version: record.version,
  })
  const names = Object.keys(flattenFacts(unsealed.facts))
  const drift = factDrift(unsealed.facts, await readFacts(names, job.facter))
  if (Object.keys(unsealed.trusted).length > 0) {
    const live = flattenFacts({trusted: await readTrusted(job.puppet)})
    drift.push(...factDrift({trusted: unsealed.trusted}, live))
  }

  if (drift.length > 0) {
    if (settings.factDrift === 'fail') throw driftError(environment, drift)
    job.log.warn(driftError(environment, drift).message)
  }

  return unsealed
}

/** Does a release hold links into the sealed dir (sealed data of some manifest)? */
async function linksSealedData(releaseDir: string, sealedDir: string): Promise<boolean> {
  const walk = async (dir: string): Promise<boolean> => {
    for (const entry of await readdir(dir, {withFileTypes: true}).catch(() => [])) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory() && (await walk(full))) return true
      if (entry.isSymbolicLink() && insideDir(await readlink(full), sealedDir)) return true
    }

    return false
  }

  const datadirs = await releaseDatadirs(releaseDir, path.basename(releaseDir)).catch(() => [] as string[])
  for (const datadir of datadirs) if (await walk(path.join(releaseDir, datadir))) return true
  return false
}

/** The protected data directories, as the release's own hiera.yaml names them. */
async function releaseDatadirs(releaseDir: string, environment: string): Promise<string[]> {
  const text = await readFile(path.join(releaseDir, HIERA_FILE), 'utf8').catch(() => {
    throw new SealedDataError(`${environment}: the release has sealed data but no ${HIERA_FILE}; refused`)
  })
  try {
    return parseHieraConfig(text, `${environment}/${HIERA_FILE}`).datadirs
  } catch (error) {
    throw new SealedDataError(`${(error as Error).message}; refused`)
  }
}

const recordFile = (settings: SealedNodeSettings, environment: string) =>
  path.join(settings.cacheDir, environment, 'materialised.json')

const releaseRecordFile = (settings: SealedNodeSettings, environment: string, version: string) =>
  path.join(settings.cacheDir, environment, 'releases', `${version}.json`)

async function readRecord(file: string): Promise<SealedRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as SealedRecord
  } catch {
    return undefined
  }
}

async function writeRecord(file: string, record: SealedRecord): Promise<void> {
  await mkdir(path.dirname(file), {mode: 0o700, recursive: true})
  await writeFile(`${file}.tmp`, JSON.stringify(record), {mode: 0o600})
  await rename(`${file}.tmp`, file)
}
