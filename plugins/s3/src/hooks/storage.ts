import type {PupistryHook} from 'pupistry'

import {prefixOf} from '../s3-url.js'

const hook: PupistryHook<'pupistry:storage'> = () => [
  {
    contract: 2,
    async create(url, context) {
      // The SDK's own Node 20 end-of-life notice would print on every command; pupistry's docs carry it instead.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
      const {S3Store} = await import('../s3-store.js')
      return new S3Store(url, context)
    },
    description: 'Amazon S3 and S3-compatible stores (MinIO, Ceph RGW, R2, ...): s3://bucket/prefix.',
    name: 's3',
    // Nodes reach the bucket with read-only credentials of their own; region comes with the core's agent settings.
    node: {
      credentials: ['access_key_id', 'secret_access_key'],
      settings: [
        'general.storage',
        'general.s3_bucket',
        'general.s3_prefix',
        'general.s3_endpoint',
        'general.s3_checksums',
      ],
    },
    prefixOf,
    schemes: ['s3'],
    settings: [
      'general.storage',
      'general.s3_bucket',
      'general.s3_prefix',
      'general.s3_endpoint',
      'general.s3_checksums',
      'general.s3_sse',
      'general.s3_kms_key_id',
      'agent.access_key_id',
      'agent.secret_access_key',
      'agent.region',
      'agent.transfer_timeout',
      'build.access_key_id',
      'build.secret_access_key',
      'build.region',
    ],
  },
]

export default hook
