import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {BuildCache} from '../build/build-cache.js'
import type {Store, TrustedKeyFile} from '../contracts.js'
import {assertNotWritableByOthers, expandHome} from '../config/settings.js'
import {FleetCheckError, SettingsError, VerificationError} from '../errors.js'
import {type Envelope, MAX_ENVELOPE_BYTES, parseEnvelope} from '../format/envelope.js'
import {readLimited} from '../format/pointer.js'
import {parseReportKey, REPORTS_PREFIX, type Report, reportOf} from '../format/report.js'
import type {Runtime} from '../runtime.js'
import {type Reader, readReaders} from '../sealed/readers.js'
import {trustedSigners} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {type FleetCheck, judgeFleetCheck} from './fleet-check.js'

/** Why a node's report needs a look. forged, unsigned, unregistered and invalid reports are not believed at all. */
export type FleetFlag = 'forged' | 'unsigned' | 'unregistered' | 'invalid' | 'stale' | 'failing' | 'expired' | 'pinned'

export interface FleetNode {
  /** The node id the report is stored under. */
  node: string
  environment: string
  flags: FleetFlag[]
  /** From a believed report only. */
  channel?: string
  serial?: number | null
  version?: string | null
  /** Seconds since the report was written. */
  age?: number
  lastExit?: number | null
  /** Rolled back on the node (`pupistry rollback`): the serial and version it left, and since when. */
  pinned?: {at: string; from: string | null; serial: number}
  agent?: string
  puppet?: string | null
  /** Whose key signed a believed report: `report key`, `node <certname>` or `group <name>` (sealed hiera). */
  signer?: string
  /** Why a report is not believed. */
  problem?: string
}

export interface FleetResult {
  nodes: FleetNode[]
  checks: {check: string; ok: boolean; detail: string}[]
}

export interface FleetOptions {
  environment?: string
  channel?: string
  /** Seconds after which a report is stale. */
  stale: number
  checks?: FleetCheck[]
  now?: Date
}

/** Without --stale: twice the default report interval, so one missed heartbeat is not yet stale. */
export const DEFAULT_STALE_SECONDS = 2 * 3600

/** Exit codes of a run that mean "expired" (21): the node keeps a release whose manifest expired. */
const EXPIRED_EXIT = 21

/**
 * Every node report in the store, each verified against the public key
 * registered for its node id (general.report_keys/<id>.asc): a report
 * signed by another node's key, or naming another node than the place it is
 * stored at, is forged; then flagged when stale, failing or expired. Checks
 * are judged, not enforced: see assertFleetChecks.
 */
export async function fleet(runtime: Runtime, options: FleetOptions): Promise<FleetResult> {
  const keys = reportKeys(runtime)
  const store = await openStore(runtime, 'build')
  const now = options.now ?? new Date()
  const nodes: FleetNode[] = []
  for (const object of await store.list(REPORTS_PREFIX)) {
    const place = parseReportKey(object.key)
    if (!place || (options.environment && place.environment !== options.environment)) continue
    const entry = await readNode(runtime, store, object.key, place, keys, {now, stale: options.stale})
    if (options.channel && entry.channel !== options.channel) continue
    nodes.push(entry)
  }

  nodes.sort((a, b) => a.environment.localeCompare(b.environment) || a.node.localeCompare(b.node))
  const checks = (options.checks ?? []).map((check) => ({check: check.text, ...judgeFleetCheck(check, nodes)}))
  return {checks, nodes}
}

/** Throws FleetCheckError when a check of the result failed. */
export function assertFleetChecks(result: FleetResult): void {
  const failed = result.checks.filter((check) => !check.ok)
  if (failed.length > 0)
    throw new FleetCheckError(`fleet check failed: ${failed.map((check) => check.detail).join('; ')}`, {
      details: result,
    })
}

/**
 * Where report keys are registered: general.report_keys/<node id>.asc, and
 * the sealed-hiera registry of each environment's last build (a node's key
 * signs its reports). Without either, no report could be believed.
 */
interface ReportKeys {
  dir?: string
  readers: (environment: string) => Promise<Reader[] | undefined>
}

function reportKeys(runtime: Runtime): ReportKeys {
  const cache = new BuildCache(runtime.settings)
  const known = new Map<string, Promise<Reader[] | undefined>>()
  const readers = (environment: string) => {
    if (!known.has(environment)) known.set(environment, readReaders(cache.dirOf(environment)))
    return known.get(environment)!
  }

  const configured = runtime.settings.general.report_keys
  if (!configured) return {readers}
  const dir = path.resolve(expandHome(configured))
  if (!existsSync(dir)) throw new SettingsError(`general.report_keys: ${dir} does not exist`)
  assertNotWritableByOthers(dir, 'report keys directory')
  return {dir, readers}
}

/**
 * The keys a report stored under a node id may be signed with: the key
 * registered for that id in general.report_keys when there is one (only
 * it); otherwise the sealed-hiera readers whose key signed it (nodes, and
 * groups for nodes enrolled through a group). Undefined: none is registered.
 */
async function keysFor(
  keys: ReportKeys,
  place: {nodeId: string; environment: string},
  envelope: Envelope,
): Promise<{trusted: TrustedKeyFile[]; signer: (keyid: string) => string} | undefined> {
  const keyFile = keys.dir && path.join(keys.dir, `${place.nodeId}.asc`)
  if (keyFile && existsSync(keyFile))
    return {signer: () => 'report key', trusted: [{file: keyFile, text: readFileSync(keyFile, 'utf8')}]}
  const keyids = new Set(envelope.signatures.map((signature) => signature.keyid.toUpperCase()))
  const readers = ((await keys.readers(place.environment)) ?? []).filter((reader) =>
    reader.keys.some((key) => keyids.has(key.fingerprint)),
  )
  if (readers.length === 0) return undefined
  const byFingerprint = new Map(readers.flatMap((reader) => reader.keys.map((key) => [key.fingerprint, reader])))
  return {
    signer: (keyid) => {
      const reader = byFingerprint.get(keyid.toUpperCase())
      return reader ? `${reader.kind} ${reader.name}` : keyid
    },
    trusted: readers.flatMap((reader) =>
      reader.keys.map((key) => ({file: `${reader.kind} ${reader.name}`, text: key.key})),
    ),
  }
}

async function readNode(
  runtime: Runtime,
  store: Store,
  key: string,
  place: {nodeId: string; environment: string},
  keys: ReportKeys,
  timing: {now: Date; stale: number},
): Promise<FleetNode> {
  const entry: FleetNode = {environment: place.environment, flags: [], node: place.nodeId}
  const refuse = (flag: FleetFlag, problem: string): FleetNode => ({...entry, flags: [flag], problem})
  const where = `${store.location} ${key}`
  const object = await store.get(key, {mutable: true})
  if (!object || 'notModified' in object) return refuse('invalid', 'the report went away while it was read')
  let report: Report
  let signer: string
  try {
    const envelope = parseEnvelope(await readLimited(object.body, MAX_ENVELOPE_BYTES, where), where)
    if (envelope.signatures.length === 0) return refuse('unsigned', 'the report has no signature')
    const candidates = await keysFor(keys, place, envelope)
    if (!candidates)
      return refuse('unregistered', `no report key or sealed-hiera node key registered for ${place.nodeId}`)
    const [by] = await trustedSigners(runtime, envelope, candidates.trusted)
    if (!by) return refuse('forged', `not signed by the key registered for ${place.nodeId}`)
    signer = candidates.signer(by.keyid)
    report = reportOf(envelope, where)
  } catch (error) {
    if (error instanceof VerificationError) return refuse('invalid', error.message)
    throw error
  }

  if (report.node !== place.nodeId || report.environment !== place.environment)
    return refuse('forged', `the report names node ${report.node} of ${report.environment}, not where it is stored`)
  // A node key speaks only for its own certname: another registered node's key cannot vouch for it.
  if (signer.startsWith('node ') && report.certname !== signer.slice('node '.length))
    return refuse('forged', `signed by ${signer}, but the report names certname ${report.certname ?? 'none'}`)
  const age = Math.round((timing.now.getTime() - new Date(report.written).getTime()) / 1000)
  const exit = report.lastRun?.exit ?? null
  const flags: FleetFlag[] = []
  if (age > timing.stale) flags.push('stale')
  if (exit === EXPIRED_EXIT) flags.push('expired')
  else if (exit !== 0) flags.push('failing')
  // A node rolled back by hand runs an older release than its channel: not a healthy member of it.
  if (report.pinned) flags.push('pinned')
  return {
    ...entry,
    age,
    agent: report.versions.pupistry,
    channel: report.channel,
    flags,
    lastExit: exit,
    ...(report.pinned ? {pinned: report.pinned} : {}),
    puppet: report.versions.puppet,
    serial: report.serial,
    signer,
    version: report.version,
  }
}
