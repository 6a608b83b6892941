import * as v from 'valibot'

import {VerificationError} from '../errors.js'
import {CHANNEL_PATTERN} from './channel.js'
import {type Envelope, payloadJson} from './envelope.js'
import {ENVIRONMENT_PATTERN} from './environment.js'
import {LAYOUT_ROOT} from './layout.js'
import {MEMBER_NAME} from './member-name.js'

/**
 * A node's fleet report: what it runs and how its last run went, signed with
 * the node's report key. No facts and no hiera data: only what `pupistry
 * fleet` shows.
 */
export const REPORT_PAYLOAD_TYPE = 'application/vnd.pupistry.report+json; version=1'

/** A node id as it appears in report keys: a machine id, a host name, or an AWS user id (`AROA...:i-0abc`). */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/

export const REPORTS_PREFIX = `${LAYOUT_ROOT}/reports/`

/** Where a node writes its report of an environment: below its own id, the only place it may write. */
export function reportKey(nodeId: string, environment: string): string {
  return `${REPORTS_PREFIX}${nodeId}/${environment}.json`
}

const KEY = new RegExp(`^${REPORTS_PREFIX}([^/]+)/([^/]+)\\.json$`)

/** The node id and environment a report key names, or undefined for other keys. */
export function parseReportKey(key: string): {nodeId: string; environment: string} | undefined {
  const match = KEY.exec(key)
  if (!match || !NODE_ID_PATTERN.test(match[1]) || !ENVIRONMENT_PATTERN.test(match[2])) return undefined
  return {environment: match[2], nodeId: match[1]}
}

const text = v.pipe(v.string(), v.maxLength(200))
const isoTime = v.pipe(v.string(), v.isoTimestamp())
const sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/))

export const reportSchema = v.strictObject({
  /** The node's certname, when the report is signed with its sealed-hiera node key (registered under that name). */
  certname: v.optional(v.pipe(v.string(), v.regex(MEMBER_NAME))),
  channel: v.pipe(v.string(), v.regex(CHANNEL_PATTERN)),
  environment: v.pipe(v.string(), v.regex(ENVIRONMENT_PATTERN)),
  format: v.literal(1),
  host: text,
  lastCheck: v.nullable(isoTime),
  lastRun: v.nullable(
    v.strictObject({
      at: isoTime,
      error: v.nullable(v.pipe(v.string(), v.maxLength(1000))),
      exit: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255)),
      seconds: v.nullable(v.pipe(v.number(), v.minValue(0))),
    }),
  ),
  node: v.pipe(v.string(), v.regex(NODE_ID_PATTERN)),
  /** Set while `pupistry rollback` pins an older release: when, and the serial and version rolled back from. */
  pinned: v.optional(
    v.strictObject({
      at: isoTime,
      from: v.nullable(sha256),
      serial: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
    }),
  ),
  serial: v.nullable(v.pipe(v.number(), v.safeInteger(), v.minValue(1))),
  version: v.nullable(sha256),
  versions: v.strictObject({pupistry: text, puppet: v.nullable(text)}),
  written: isoTime,
})

export type Report = v.InferOutput<typeof reportSchema>

/** The report inside an envelope, checked against the schema (its signature is checked by the caller). */
export function reportOf(envelope: Envelope, where: string): Report {
  if (envelope.payloadType !== REPORT_PAYLOAD_TYPE)
    throw new VerificationError(`${where}: not a pupistry report (payload type ${envelope.payloadType})`)
  const result = v.safeParse(reportSchema, payloadJson(envelope, where, 'report'))
  if (!result.success) throw new VerificationError(`${where}: invalid report (${result.issues[0].message})`)
  return result.output
}
