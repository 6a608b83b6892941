import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {stringify as dump} from 'yaml'

import {run, runCli, show} from '../../../test/helpers/cli.js'
import {stageBuild} from '../../../test/helpers/craft.js'
import {type LocalS3, startS3} from '../../../test/helpers/s3.js'
import {World} from '../../../test/helpers/world.js'

const credentials = {access_key_id: 'S3RVER', secret_access_key: 'S3RVER', region: 'us-east-1'}

describe('the s3 store against an S3-protocol server on loopback, with the real AWS SDK', () => {
  let s3: LocalS3
  let world: World
  before(async () => {
    s3 = await startS3(['fleet'])
    world = await World.create({
      agent: {...credentials},
      build: {...credentials},
      general: {s3_endpoint: s3.endpoint, storage: 's3://fleet/pupistry-test'},
    })
  })
  after(async () => {
    world.cleanup()
    await s3.stop()
  })

  it('build → push → apply works end to end with real r10k and puppet', async () => {
    for (const step of [['build', '-e', 'production'], ['push'], ['apply']]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n')
    assert.ok(
      s3.requests.some((request) => request.startsWith('PUT /fleet/pupistry-test/pupistry/production/latest.json')),
    )
    assert.ok(
      s3.requests.some((request) =>
        /^PUT \/fleet\/pupistry-test\/pupistry\/production\/manifests\/000000000001\.json/.test(request),
      ),
    )
  })

  it('the pointer, which push marks mutable, is stored with Cache-Control: no-cache; manifests and artifacts are not', async () => {
    const client = new S3Client({
      credentials: {accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER'},
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
    })
    try {
      const head = (key: string) =>
        client.send(new HeadObjectCommand({Bucket: 'fleet', Key: `pupistry-test/pupistry/production/${key}`}))
      assert.equal((await head('latest.json')).CacheControl, 'no-cache')
      assert.equal((await head('manifests/000000000001.json')).CacheControl, undefined)
      assert.equal((await head(`artifacts/${world.activeVersion()}.tar.gz`)).CacheControl, undefined)
    } finally {
      client.destroy()
    }
  })

  it('a check with nothing new is exactly one request, answered 304', async () => {
    const before = s3.requests.length
    const result = await world.cli('apply', '--minimal')
    assert.equal(result.code, 0, show(result))
    const made = s3.requests.slice(before)
    assert.deepEqual(
      made.map((request) => request.replace(/\?.*$/, '')),
      ['GET /fleet/pupistry-test/pupistry/production/latest.json'],
    )
    assert.match(s3.answers.at(-1)!, / → 304$/)
  })

  it('a 50 MB artifact goes up as multipart and comes back byte-identical', async () => {
    const artifact = randomBytes(50 * 1024 * 1024)
    const sha256 = stageBuild(world.settings.general.app_cache as string, 'staging', artifact)
    const before = s3.requests.length
    // Random bytes, not a build: the transfer is under test, not the code (validation would refuse it).
    const result = await world.cli('push', '-e', 'staging', '--no-validate')
    assert.equal(result.code, 0, show(result))
    const made = s3.requests.slice(before)
    assert.ok(
      made.some((request) => /^POST .*\/artifacts\/[0-9a-f]{64}\.tar\.gz\?uploads/.test(request)),
      made.join('\n'),
    )
    assert.ok(made.filter((request) => /[?&]partNumber=/.test(request)).length >= 6, 'uploaded in parts')

    const client = new S3Client({
      credentials: {accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER'},
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
    })
    const object = await client.send(
      new GetObjectCommand({Bucket: 'fleet', Key: `pupistry-test/pupistry/staging/artifacts/${sha256}.tar.gz`}),
    )
    const back = Buffer.from(await object.Body!.transformToByteArray())
    assert.equal(back.length, artifact.length)
    assert.equal(createHash('sha256').update(back).digest('hex'), sha256)
  })

  it('a download cut off half-way is retried, and one that keeps failing leaves the release untouched', async () => {
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'manifests', 'cut.pp'), '# cut\n'))
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '-e', 'production'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    const active = world.activeVersion()
    s3.cutDownloads = 3
    const failed = await world.cli('apply', '--minimal')
    assert.equal(failed.code, 13, show(failed))
    assert.match(
      failed.stderr,
      /download of pupistry\/production\/artifacts\/[0-9a-f]{64}\.tar\.gz from s3:\/\/fleet\/pupistry-test\/ failed after \d+ bytes/,
    )
    assert.equal(world.activeVersion(), active)

    s3.cutDownloads = 1
    const retried = await world.cli('apply', '--minimal')
    assert.equal(retried.code, 0, show(retried))
    assert.notEqual(world.activeVersion(), active)
    assert.match(world.targetFile('hello.txt'), /hello from v1\.0\.0/)
  })

  it("Debian's aws CLI lists and downloads what was pushed, and the SHA-256 matches the signed manifest", async () => {
    const home = mkdtempSync(path.join(world.dir, 'aws-'))
    const aws = (...args: string[]) =>
      run('/usr/bin/aws', ['--endpoint-url', s3.endpoint, ...args], {
        env: {
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_DEFAULT_REGION: 'us-east-1',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
          HOME: home,
        },
      })
    const listing = await aws('s3', 'ls', '--recursive', 's3://fleet/pupistry-test/pupistry/production/')
    assert.match(listing, /pupistry-test\/pupistry\/production\/latest\.json/)
    assert.match(listing, /pupistry-test\/pupistry\/production\/manifests\/\d{12}\.json/)

    const pointer = JSON.parse(
      await aws('s3', 'cp', 's3://fleet/pupistry-test/pupistry/production/latest.json', '-'),
    ) as {payload: string}
    const manifest = JSON.parse(Buffer.from(pointer.payload, 'base64').toString('utf8')) as {
      artifact: {key: string; sha256: string; size: number}
    }
    const file = path.join(home, 'artifact.tar.gz')
    await aws('s3', 'cp', `s3://fleet/pupistry-test/${manifest.artifact.key}`, file)
    const bytes = readFileSync(file)
    assert.equal(bytes.length, manifest.artifact.size)
    assert.equal(createHash('sha256').update(bytes).digest('hex'), manifest.artifact.sha256)
  })

  it('settings written for the Ruby tool (s3_bucket, s3_prefix, s3_endpoint) reach the same store', async () => {
    const legacy = path.join(world.dir, 'legacy.yaml')
    const {storage: _storage, ...general} = world.settings.general
    writeFileSync(
      legacy,
      dump({...world.settings, general: {...general, s3_bucket: 'fleet', s3_prefix: 'pupistry-test'}}),
    )
    const result = await world.cliWith(legacy, 'status', '--json', '-e', 'production')
    assert.equal(result.code, 0, show(result))
    const report = JSON.parse(result.stdout) as {
      environments: Array<{published?: {serial: number}; installed?: {version: string}}>
      storeError?: string
    }
    assert.equal(report.storeError, undefined)
    assert.ok(report.environments[0].published?.serial, result.stdout)
    assert.equal(
      report.environments[0].published?.serial,
      JSON.parse((await world.cli('status', '--json', '-e', 'production')).stdout).environments[0].published.serial,
    )
  })

  it("blank credentials use the AWS SDK's default chain (here: a shared profile), and messages name the profile", async () => {
    const home = mkdtempSync(path.join(world.dir, 'profile-'))
    mkdirSync(path.join(home, '.aws'))
    writeFileSync(
      path.join(home, '.aws', 'credentials'),
      '[fleet-node]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n',
    )
    const node = path.join(world.dir, 'chain.yaml')
    writeFileSync(node, dump({...world.settings, agent: {puppetcode: world.settings.agent.puppetcode}}))
    const env = {
      AWS_ACCESS_KEY_ID: '',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PROFILE: 'fleet-node',
      AWS_SECRET_ACCESS_KEY: '',
      HOME: home,
    }
    const ok = await runCli(['apply', '--minimal', '--config', node], {cwd: world.dir, env})
    assert.equal(ok.code, 0, show(ok))

    writeFileSync(
      path.join(home, '.aws', 'credentials'),
      '[fleet-node]\naws_access_key_id = NOT-A-KEY\naws_secret_access_key = wrong\n',
    )
    const denied = await runCli(['apply', '--force', '--config', node], {cwd: world.dir, env})
    assert.equal(denied.code, 13, show(denied))
    assert.match(denied.stderr, /agent .*the default credential chain \(profile fleet-node\)/)
    assert.doesNotMatch(denied.stderr, /wrong/)
  })

  it("the Ruby tool's objects in the same prefix survive push, apply and prune", async () => {
    const client = new S3Client({
      credentials: {accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER'},
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
    })
    const ruby = ['manifest.latest.yaml', 'artifact.20150101-0000.tar.gz', '0123456789ABCDEF.publickey'].map(
      (name) => `pupistry-test/${name}`,
    )
    for (const key of ruby)
      await client.send(new PutObjectCommand({Body: `old tool: ${key}\n`, Bucket: 'fleet', Key: key}))

    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', 'ruby.pp'), '# ruby\n'),
    )
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '-e', 'production'],
      ['apply', '--minimal'],
      ['prune', '--keep', '0', '--grace', '0s'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
      if (step[0] === 'prune')
        assert.match(result.stdout, /production: live serial \d+; kept 1 manifest\(s\).*removed [1-9]\d* object/)
    }

    for (const key of ruby) {
      const object = await client.send(new GetObjectCommand({Bucket: 'fleet', Key: key}))
      assert.equal(await object.Body!.transformToString(), `old tool: ${key}\n`)
    }

    const listed = await client.send(
      new ListObjectsV2Command({Bucket: 'fleet', Prefix: 'pupistry-test/pupistry/production/'}),
    )
    const keys = (listed.Contents ?? []).map((object) => object.Key!)
    assert.equal(keys.filter((key) => key.includes('/manifests/')).length, 1, keys.join('\n'))
    assert.equal(keys.filter((key) => key.includes('/artifacts/')).length, 1, keys.join('\n'))
    const again = await world.cli('apply', '--force')
    assert.equal(again.code, 0, show(again))
  })

  it(
    'doctor: build credentials write and read back; agent credentials that can write, and a bucket ' +
      'anyone can read, are warnings',
    async () => {
      const result = await world.cli('doctor')
      assert.equal(result.code, 0, show(result))
      assert.match(
        result.stdout,
        new RegExp(
          /^ok\s+store \(build\)\s+the build credentials \(access key S3RVER\) can write, read /.source +
            /back and delete in s3:\/\/fleet\/pupistry-test\//.source,
          'm',
        ),
      )
      assert.match(
        result.stdout,
        /^ok\s+store \(agent\)\s+the agent credentials \(access key S3RVER\) can read production serial \d+ \(signed by Test Signer/m,
      )
      assert.match(
        result.stdout,
        /^WARN\s+least privilege\s+the agent credentials \(access key S3RVER\) can WRITE to s3:\/\/fleet\/pupistry-test\//m,
      )
      assert.match(
        result.stdout,
        new RegExp(
          /^WARN\s+exposure\s+anyone can list s3:\/\/fleet\/pupistry-test\/ without credentials /.source +
            /\(the server does not report policy status\)/.source,
          'm',
        ),
      )
      assert.doesNotMatch(result.stdout + result.stderr, /secret_access_key|S3RVER\b.*S3RVER\b.*S3RVER/)
    },
  )

  it('doctor on a node with read-only credentials and a private bucket: all ok', async () => {
    const node = path.join(world.dir, 'node.yaml')
    writeFileSync(
      node,
      dump({
        agent: world.settings.agent,
        general: {...world.settings.general, s3_endpoint: s3.readOnlyEndpoint, signing_key_file: undefined},
      }),
    )
    const result = await world.cliWith(node, 'doctor', '--json')
    assert.equal(result.code, 0, show(result))
    const checks = Object.fromEntries(
      (JSON.parse(result.stdout) as {checks: Array<{name: string; status: string; detail: string}>}).checks.map(
        (check) => [check.name, check],
      ),
    )
    assert.equal(checks['store (build)'], undefined)
    assert.equal(checks['store (agent)'].status, 'ok', checks['store (agent)'].detail)
    assert.equal(checks['least privilege'].status, 'ok')
    assert.match(checks['least privilege'].detail, /cannot write to s3:\/\/fleet\/pupistry-test\/ \(access denied/)
    assert.equal(checks.exposure.status, 'ok')
    assert.match(
      checks.exposure.detail,
      /without credentials, list s3:\/\/fleet\/pupistry-test\/ and read .*latest\.json were refused; the bucket policy is not public/,
    )
  })

  it('a bucket that does not exist: one clear message, exit 13, the installed release unchanged', async () => {
    const active = world.activeVersion()
    world.settings.general.storage = 's3://no-such-bucket/x'
    world.writeSettings()
    try {
      const result = await world.cli('apply', '--force')
      assert.equal(result.code, 13, show(result))
      assert.match(
        result.stderr,
        /^pupistry: error: bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+/m,
      )
      assert.equal(world.activeVersion(), active)
    } finally {
      world.settings.general.storage = 's3://fleet/pupistry-test'
      world.writeSettings()
    }
  })

  it('an unreachable endpoint: exit 13 naming it, the installed release unchanged', async () => {
    const active = world.activeVersion()
    world.settings.general.s3_endpoint = 'http://127.0.0.1:9'
    world.writeSettings()
    try {
      const result = await world.cli('apply', '--force')
      assert.equal(result.code, 13, show(result))
      assert.match(result.stderr, /^pupistry: error: cannot reach the store at http:\/\/127\.0\.0\.1:9: ECONNREFUSED/m)
      assert.equal(world.activeVersion(), active)
    } finally {
      world.settings.general.s3_endpoint = s3.endpoint
      world.writeSettings()
    }
  })
})
