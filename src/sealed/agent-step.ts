import {lstat, mkdir, readFile, rename, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {ProviderLogger, Store} from '../contracts.js'
import {SealedDataError} from '../errors.js'
import type {Manifest, SealedIndexRef} from '../format/manifest.js'
import type {NodeKeys} from '../signing/signing.js'
import {driftError, factDrift, flattenFacts, readFacts} from './facts.js'
import {parseHieraConfig} from './hiera-config.js'
import {linkRelease, materialise} from './materialise.js'
import {loadNodeKeys} from './node-keys.js'
import type {SealedNodeSettings} from './node-settings.js'
import {HIERA_FILE} from './plan.js'
import {unseal} from './unseal.js'

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
  await materialiseFor(job, {index: ref, version: job.manifest.version})
}

/**
 * Before Puppet runs on the active release: if its sealed data is gone
 * (a reboot emptied the memory filesystem), materialise it again from the
 * agent's cache of verified ciphertext, with every check made again.
 */
export async function ensureSealed(job: SealedStepJob & {version: string}): Promise<void> {
  const record = await readRecord(job.settings, job.environment)
  if (!record || record.version !== job.version) return
  const current = path.join(job.settings.sealedDir, job.environment, 'current')
  if (await stat(current).catch(() => undefined)) return
  job.log.info(`${job.environment}: sealed hiera data is not materialised (a reboot?); materialising it again`)
  await materialiseFor(job, record)
}

async function materialiseFor(job: SealedStepJob, record: SealedRecord): Promise<void> {
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
  if (drift.length > 0) {
    if (settings.factDrift === 'fail') throw driftError(environment, drift)
    job.log.warn(driftError(environment, drift).message)
  }

  await materialise({allowDisk: settings.allowDisk, environment, files: unsealed.files, sealedDir: settings.sealedDir})
  await linkRelease({
    environment,
    paths: unsealed.files.map((file) => file.path),
    releaseDir: job.releaseDir,
    sealedDir: settings.sealedDir,
  })
  await writeRecord(settings, environment, record)
  job.log.info(`${environment}: sealed hiera data materialised (${unsealed.files.length} files)`)
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

async function readRecord(settings: SealedNodeSettings, environment: string): Promise<SealedRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordFile(settings, environment), 'utf8')) as SealedRecord
  } catch {
    return undefined
  }
}

async function writeRecord(settings: SealedNodeSettings, environment: string, record: SealedRecord): Promise<void> {
  const file = recordFile(settings, environment)
  await mkdir(path.dirname(file), {mode: 0o700, recursive: true})
  await writeFile(`${file}.tmp`, JSON.stringify(record), {mode: 0o600})
  await rename(`${file}.tmp`, file)
}
