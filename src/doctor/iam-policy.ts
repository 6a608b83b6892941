import {UsageError} from '../errors.js'
import {LAYOUT_ROOT} from '../format/layout.js'
import {REPORTS_PREFIX} from '../format/report.js'

/** An AWS IAM policy document. */
export interface IamPolicy {
  Version: '2012-10-17'
  Statement: {Sid: string; Effect: 'Allow' | 'Deny'; Action: string[]; Resource: string[]}[]
}

export interface NodePolicies {
  /** What a node may read: the store's objects, and no node's report. */
  read: IamPolicy
  /** Where a node may write its report: only below its own AWS user id. */
  report: IamPolicy
}

/**
 * A node's least-privilege S3 policies for an `s3://bucket/prefix` store.
 * The report prefix is scoped by the `${aws:userid}` policy variable, which
 * AWS fills in per caller, so one policy for the whole fleet still lets
 * each node write only its own reports (agent.report_id must be that id).
 */
export function nodePolicies(store: URL): NodePolicies {
  if (store.protocol !== 's3:')
    throw new UsageError(`--print-iam-policy is for an s3:// store; this one is ${store.protocol}//`)
  const bucket = store.hostname
  const prefix = decodeURIComponent(store.pathname.replace(/^\/+/, ''))
  const object = (key: string) => `arn:aws:s3:::${bucket}/${prefix}${key}`
  return {
    read: {
      Statement: [
        {Action: ['s3:GetObject'], Effect: 'Allow', Resource: [object(`${LAYOUT_ROOT}/*`)], Sid: 'PupistryNodeRead'},
        {
          Action: ['s3:GetObject'],
          Effect: 'Deny',
          Resource: [object(`${REPORTS_PREFIX}*`)],
          Sid: 'PupistryNodeReadsNoReports',
        },
      ],
      Version: '2012-10-17',
    },
    report: {
      Statement: [
        {
          Action: ['s3:PutObject'],
          Effect: 'Allow',
          Resource: [object(`${REPORTS_PREFIX}\${aws:userid}/*`)],
          Sid: 'PupistryNodeWritesOwnReport',
        },
      ],
      Version: '2012-10-17',
    },
  }
}
