import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import type {ProviderContext, ProviderErrorReason} from '../../../src/contracts.js'
import {runCli, show} from '../../../test/helpers/cli.js'
import {type FakeS3Answer, startFakeS3} from '../../../test/helpers/s3-errors-server.js'
import {World} from '../../../test/helpers/world.js'
import {S3Store} from '../src/s3-store.js'

/** The S3 error documents s3rver cannot produce, each with its message and exit code 13. */
const CASES: Array<{answer: FakeS3Answer; expect: RegExp; name: string; reason: ProviderErrorReason}> = [
  {
    answer: {code: 'AccessDenied', message: 'Access Denied', status: 403},
    reason: 'denied',
    expect: new RegExp(
      /^pupistry: error: access denied reading /.source +
        /s3:\/\/fleet\/p\/pupistry\/production\/latest\.json with the agent credentials /.source +
        /\(access key AKIAAGENTKEY\)$/.source,
      'm',
    ),
    name: 'access denied names the side and the key id',
  },
  {
    answer: {
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided.',
      status: 403,
    },
    reason: 'denied',
    expect: new RegExp(
      /rejected the request signature of the agent credentials \(access key AKIAAGENTKEY\): /.source +
        /wrong secret key, or this machine's clock is off/.source,
    ),
    name: 'a wrong secret says so, and never prints it',
  },
  {
    answer: {
      code: 'NoSuchBucket',
      extra: {BucketName: 'fleet'},
      message: 'The specified bucket does not exist',
      status: 404,
    },
    reason: 'not found',
    expect: /bucket fleet does not exist at http:\/\/127\.0\.0\.1:\d+/,
    name: 'a missing bucket names it',
  },
  {
    answer: {
      code: 'PermanentRedirect',
      extra: {Bucket: 'fleet', Endpoint: 'fleet.s3.eu-west-1.example.com'},
      message: 'The bucket you are attempting to access must be addressed using the specified endpoint.',
      status: 301,
    },
    reason: 'invalid',
    expect: /bucket fleet is in another region: set agent\.region, or the endpoint fleet\.s3\.eu-west-1\.example\.com/,
    name: 'a wrong region says which setting to change',
  },
]

describe('S3 errors a user can act on', () => {
  let world: World
  before(async () => {
    world = await World.create({
      agent: {access_key_id: 'AKIAAGENTKEY', region: 'us-east-1', secret_access_key: 'agent-secret-never-printed'},
      general: {storage: 's3://fleet/p'},
    })
  })
  after(() => world.cleanup())

  for (const {answer, expect, name} of CASES) {
    it(name, async () => {
      const fake = await startFakeS3(answer)
      try {
        const settings = structuredClone(world.settings)
        settings.general.s3_endpoint = fake.endpoint
        const file = path.join(world.dir, `${answer.code}.yaml`)
        writeFileSync(file, dump(settings))
        const result = await runCli(['apply', '--config', file])
        assert.equal(result.code, 13, show(result))
        assert.match(result.stderr, expect)
        assert.doesNotMatch(result.stdout + result.stderr, /agent-secret-never-printed/)
        assert.doesNotMatch(result.stderr, /\n\s+at /)
      } finally {
        await fake.stop()
      }
    })
  }
})

describe("S3 errors carry the plugin contract's reason, so the core never reads S3 error shapes", () => {
  const store = (endpoint: string) => {
    const context = {
      askSecret: async () => undefined,
      cacheDir: '/nonexistent',
      log: {info() {}, progress() {}, warn() {}},
      settings: {
        agent: {access_key_id: 'AKIAAGENTKEY', region: 'us-east-1', secret_access_key: 'agent-secret'},
        build: {},
        general: {s3_endpoint: endpoint},
      },
      side: 'agent',
    } satisfies ProviderContext
    return new S3Store(new URL('s3://fleet/p'), context)
  }

  const answers = [
    ...CASES.map(({answer, reason}) => ({answer, reason})),
    {answer: {code: 'SlowDown', message: 'Please reduce your request rate.', status: 503}, reason: 'unreachable'},
  ]
  for (const {answer, reason} of answers) {
    it(`${answer.code} → ${reason}`, async () => {
      const fake = await startFakeS3(answer)
      try {
        const reading = store(fake.endpoint).get('pupistry/production/latest.json')
        await assert.rejects(reading, (error: Error & {kind?: string; reason?: string}) => {
          assert.equal(error.kind, 'store')
          assert.equal(error.reason, reason, error.message)
          return true
        })
      } finally {
        await fake.stop()
      }
    })
  }

  it('a refused connection → unreachable', async () => {
    await assert.rejects(
      store('http://127.0.0.1:9').head('x'),
      (error: Error & {reason?: string}) => error.reason === 'unreachable',
    )
  })
})
