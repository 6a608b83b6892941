import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readFileSync, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {agentSettingsOf, puppetCommand} from '../config/agent-settings.js'
import {durationSeconds} from '../config/settings.js'
import {PupistryError, SettingsError} from '../errors.js'
import {STABLE_CHANNEL} from '../format/channel.js'
import {makeEnvelope, preAuthEncoding, serializeEnvelope} from '../format/envelope.js'
import {NODE_ID_PATTERN, REPORT_PAYLOAD_TYPE, type Report, reportKey} from '../format/report.js'
import type {Runtime} from '../runtime.js'
import {signDetached} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {writeAtomically} from '../util/atomic-write.js'
import {rolloutId} from './rollout-id.js'
import {StateFile} from './state.js'

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
  const keyFile = runtime.settings.agent.report_key
  if (!keyFile) return
  try {
    await writeReportOrFail(runtime, keyFile, job)
  } catch (error) {
    if (!(error instanceof PupistryError) && !(error instanceof Error)) throw error
    runtime.log.warn(`${job.environment}: the fleet report was not written (${error.message}); the run is not affected`)
  }
}

async function writeReportOrFail(
  runtime: Runtime,
  keyFile: string,
  job: {environment: string; started: Date; now?: Date},
): Promise<void> {
  const {agent} = runtime.settings
  const {stateDir} = agentSettingsOf(runtime.settings)
  const now = job.now ?? new Date()
  const node = agent.report_id ?? rolloutId(undefined)
  if (!NODE_ID_PATTERN.test(node))
    throw new SettingsError(`agent.report_id: not a usable node id: ${node} (letters, digits, _ . : @ -)`)
  const state = (await new StateFile(stateDir).read()).environments[job.environment] ?? {}
  const lastFile = path.join(stateDir, `report-${job.environment}.json`)
  const last = readLast(lastFile)
  const puppet = await puppetVersion(runtime, last?.puppet)
  const report: Report = {
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
  const digest = createHash('sha256')
    .update(JSON.stringify({...outcome, exit: lastRun?.exit, error: lastRun?.error}))
    .digest('hex')
  const interval = agent.report_interval ? durationSeconds(agent.report_interval) : DEFAULT_REPORT_INTERVAL
  if (last?.digest === digest && now.getTime() - new Date(last.at).getTime() < interval * 1000) return

  const reportRuntime = {
    ...runtime,
    settings: {
      ...runtime.settings,
      general: {...runtime.settings.general, signer: 'openpgp', signing_key_file: keyFile},
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
    execFile(command, ['--version'], {timeout: 30_000}, (error, stdout) =>
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
