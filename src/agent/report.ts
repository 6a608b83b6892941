import {existsSync, readFileSync, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {agentSettingsOf, puppetCommand} from '../config/agent-settings.js'
import {durationSeconds} from '../config/settings.js'
import {PupistryError, SettingsError} from '../errors.js'
import {STABLE_CHANNEL} from '../format/channel.js'
import {makeEnvelope, preAuthEncoding, serializeEnvelope} from '../format/envelope.js'
import {MEMBER_NAME} from '../format/member-name.js'
import {NODE_ID_PATTERN, REPORT_PAYLOAD_TYPE, type Report, reportKey} from '../format/report.js'
import type {Runtime} from '../runtime.js'
import {sealedNodeSettings} from '../sealed/node-settings.js'
import {signDetached} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {writeAtomically} from '../util/atomic-write.js'
import {rolloutId} from './rollout-id.js'
import {StateFile} from './state.js'
import {childProcess, nodeCrypto} from '../util/lazy-node.js'

/** Without agent.report_interval, an unchanged report is written again (a heartbeat) after this long. */
export const DEFAULT_REPORT_INTERVAL = 3600

/** What the node remembers of its last report, so an unchanged one is written only as a heartbeat. */
interface LastReport {
  digest: string
  at: string
  puppet?: {command: string; modified: number; version: string}
}

/**
 * After a run: the node's signed report of the environment, written to its
 * own place in the store when the outcome changed or the last one is older
 * than agent.report_interval. A report that cannot be written is a warning:
 * the run's outcome stands.
 */
export async function writeReport(
  runtime: Runtime,
  job: {environment: string; started: Date; now?: Date},
): Promise<void> {
  const key = reportSigningKey(runtime)
  if (!key) return
  try {
    await writeReportOrFail(runtime, key, job)
  } catch (error) {
    if (!(error instanceof PupistryError) && !(error instanceof Error)) throw error
    runtime.log.warn(`${job.environment}: the fleet report was not written (${error.message}); the run is not affected`)
  }
}

/** The key that signs a node's reports, and the certname it speaks for when it is the node's sealed-hiera key. */
interface ReportSigningKey {
  file: string
  kind: 'node' | 'report' | 'group'
}

/**
 * One key per node where there can be: its sealed-hiera node key when it has
 * one (registered in hieracrypt/nodes/), else agent.report_key, else the
 * first of its sealed-hiera group keys (a node enrolled only through a group).
 */
function reportSigningKey(runtime: Runtime): ReportSigningKey | undefined {
  const sealed = sealedNodeSettings(runtime.settings)
  if (existsSync(sealed.nodeKeyFile)) return {file: sealed.nodeKeyFile, kind: 'node'}
  const {report_key: reportKey} = runtime.settings.agent
  if (reportKey) return {file: reportKey, kind: 'report'}
  const group = sealed.groupKeyFiles.find((file) => existsSync(file))
  return group ? {file: group, kind: 'group'} : undefined
}

/** The certname `node init` wrote into the node key's user id ("pupistry node <certname>"). */
async function certnameOf(keyFile: string): Promise<string> {
  const {readPrivateKey} = await import('openpgp')
  const key = await readPrivateKey({armoredKey: readFileSync(keyFile, 'utf8')})
  const certname = /^pupistry node (\S+)$/.exec(key.getUserIDs()[0] ?? '')?.[1]
  if (!certname || !MEMBER_NAME.test(certname))
    throw new SettingsError(
      `the node key ${keyFile} was not made by \`pupistry node init\` (no certname in its user id)`,
    )
  return certname
}

async function writeReportOrFail(
  runtime: Runtime,
  key: ReportSigningKey,
  job: {environment: string; started: Date; now?: Date},
): Promise<void> {
  const {agent} = runtime.settings
  const {stateDir} = agentSettingsOf(runtime.settings)
  const now = job.now ?? new Date()
  const certname = key.kind === 'node' ? await certnameOf(key.file) : undefined
  // A node reporting with its node key is known to the build side by its certname.
  const node = agent.report_id ?? certname ?? rolloutId(undefined)
  if (!NODE_ID_PATTERN.test(node))
    throw new SettingsError(`agent.report_id: not a usable node id: ${node} (letters, digits, _ . : @ -)`)
  const state = (await new StateFile(stateDir).read()).environments[job.environment] ?? {}
  const lastFile = path.join(stateDir, `report-${job.environment}.json`)
  const last = readLast(lastFile)
  const puppet = await puppetVersion(runtime, last?.puppet)
  const report: Report = {
    ...(certname ? {certname} : {}),
    channel: agent.channel ?? STABLE_CHANNEL,
    environment: job.environment,
    format: 1,
    host: os.hostname().slice(0, 200),
    lastCheck: state.lastCheck ?? null,
    lastRun:
      state.lastRunAt === undefined
        ? null
        : {
            at: state.lastRunAt,
            error: state.lastError?.slice(0, 1000) ?? null,
            exit: state.lastRunExit ?? 1,
            seconds: Math.max(0, (new Date(state.lastRunAt).getTime() - job.started.getTime()) / 1000),
          },
    node,
    ...(state.pinned
      ? {pinned: {at: state.pinned.at, from: state.pinned.from ?? null, serial: state.pinned.serial}}
      : {}),
    serial: state.serial ?? null,
    // A pinned node runs the release it was rolled back to, not the newest it accepted.
    version: state.pinned?.version ?? state.version ?? null,
    versions: {pupistry: runtime.version, puppet: puppet?.version ?? null},
    written: now.toISOString(),
  }
  const {lastCheck, lastRun, written, ...outcome} = report
  const digest = nodeCrypto()
    .createHash('sha256')
    .update(JSON.stringify({...outcome, exit: lastRun?.exit, error: lastRun?.error}))
    .digest('hex')
  const interval = agent.report_interval ? durationSeconds(agent.report_interval) : DEFAULT_REPORT_INTERVAL
  if (last?.digest === digest && now.getTime() - new Date(last.at).getTime() < interval * 1000) return

  const reportRuntime = {
    ...runtime,
    settings: {
      ...runtime.settings,
      general: {...runtime.settings.general, signer: 'openpgp', signing_key_file: key.file},
    },
  }
  const payload = Buffer.from(JSON.stringify(report), 'utf8')
  const {signature} = await signDetached(reportRuntime, preAuthEncoding(REPORT_PAYLOAD_TYPE, payload))
  const store = await openStore(runtime, 'agent')
  await store.put(
    reportKey(node, job.environment),
    serializeEnvelope(makeEnvelope(REPORT_PAYLOAD_TYPE, payload, [signature])),
    {
      contentType: 'application/json',
      mutable: true,
    },
  )
  const remembered: LastReport = {at: report.written, digest, puppet}
  await writeAtomically(lastFile, `${JSON.stringify(remembered)}\n`, {dirMode: 0o700, mode: 0o600})
}

function readLast(file: string): LastReport | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LastReport
  } catch {
    return undefined
  }
}

/**
 * Puppet's version, asked once per Puppet executable (`puppet --version`
 * takes seconds): the answer is kept until the executable changes.
 */
async function puppetVersion(runtime: Runtime, known: LastReport['puppet']): Promise<LastReport['puppet']> {
  const command = resolveCommand(puppetCommand(runtime.settings))
  if (!command) return undefined
  const modified = statSync(command).mtimeMs
  if (known?.command === command && known.modified === modified) return known
  const version = await new Promise<string | undefined>((resolve) => {
    childProcess().execFile(command, ['--version'], {timeout: 30_000}, (error, stdout) =>
      resolve(error ? undefined : stdout.trim().slice(0, 200)),
    )
  })
  return version ? {command, modified, version} : undefined
}

function resolveCommand(command: string): string | undefined {
  const candidates = command.includes('/')
    ? [command]
    : (process.env.PATH ?? '').split(':').map((dir) => path.join(dir, command))
  return candidates.find((candidate) => {
    try {
      return statSync(candidate).isFile()
    } catch {
      return false
    }
  })
}
