import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {show} from './helpers/cli.js'
import {type LocalS3, startS3} from './helpers/s3.js'
import {matchSnapshot} from './helpers/snapshot.js'
import {World} from './helpers/world.js'

const credentials = {access_key_id: 'S3RVER', region: 'us-east-1', secret_access_key: 'S3RVER'}

describe('channels, promotion and fleet reports on S3 (s3rver on loopback)', () => {
  let s3: LocalS3
  let world: World
  before(async () => {
    s3 = await startS3(['fleet'])
    world = await World.create({
      agent: {...credentials},
      build: {...credentials},
      general: {s3_endpoint: s3.endpoint, storage: 's3://fleet/team-a/'},
    })
  })
  after(async () => {
    world.cleanup()
    await s3.stop()
  })

  it("a canary node's report reaches the bucket, fleet verifies it, and promote --require-fleet promotes", async () => {
    const keys = path.join(world.dir, 'report-keys')
    mkdirSync(keys)
    world.settings.general.report_keys = keys
    world.writeSettings()
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '--channel', 'canary'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    const dir = path.join(world.dir, 'node')
    const generated = await world.cli('keys', 'generate', '--dir', dir, '--name', 'report', '--user-id', 'report n1')
    assert.equal(generated.code, 0, show(generated))
    copyFileSync(path.join(dir, 'report.public.asc'), path.join(keys, 'AROAEXAMPLE:i-0abc.asc'))
    const settings = path.join(dir, 'settings.yaml')
    writeFileSync(
      settings,
      stringify({
        agent: {
          ...world.settings.agent,
          channel: 'canary',
          report_id: 'AROAEXAMPLE:i-0abc',
          report_key: path.join(dir, 'report.secret.asc'),
        },
        general: {...world.settings.general, app_cache: path.join(dir, 'cache')},
      }),
    )
    const applied = await world.cliWith(settings, 'apply', '--minimal')
    assert.equal(applied.code, 0, show(applied))
    assert.ok(
      s3.requests.some((request) => /^PUT \/fleet\/team-a\/pupistry\/reports\/AROAEXAMPLE%3Ai-0abc\//.test(request)),
    )

    const listed = await world.cli('fleet', '--json', '--check', 'canary:ok>=100%,age<=1h')
    assert.equal(listed.code, 0, show(listed))
    const nodes = JSON.parse(listed.stdout).nodes
    assert.deepEqual(
      nodes.map((node: {node: string; channel: string; flags: string[]}) => [node.node, node.channel, node.flags]),
      [['AROAEXAMPLE:i-0abc', 'canary', []]],
    )
    const promoted = await world.cli(
      'promote',
      '-e',
      'production',
      '--from',
      'canary',
      '--to',
      'stable',
      '--require-fleet',
      'ok>=100%',
    )
    assert.equal(promoted.code, 0, show(promoted))
    assert.match(
      promoted.stdout,
      new RegExp(
        'published [0-9a-f]{12} as serial 2, signed by .* \\(promoted from production channel canary serial 1; ' +
          'provenance signed in pupistry/production/provenance/000000000002\\.json\\)',
      ),
    )
    // The record went to the bucket: status reads and verifies it there.
    const status = JSON.parse((await world.cli('status', '-e', 'production', '--json')).stdout)
    assert.deepEqual(status.environments[0].published.promotedFrom, {
      channel: 'canary',
      environment: 'production',
      serial: 1,
    })
  })

  it('doctor --print-iam-policy prints the node read policy and the report policy scoped by ${aws:userid}', async () => {
    const printed = await world.cli('doctor', '--print-iam-policy')
    assert.equal(printed.code, 0, show(printed))
    matchSnapshot('iam/node-policies.txt', printed.stdout)
    const json = JSON.parse((await world.cli('doctor', '--print-iam-policy', '--json')).stdout)
    assert.deepEqual(json.report.Statement[0].Resource, ['arn:aws:s3:::fleet/team-a/pupistry/reports/${aws:userid}/*'])
    assert.deepEqual(json.read.Statement[1], {
      Action: ['s3:GetObject'],
      Effect: 'Deny',
      Resource: ['arn:aws:s3:::fleet/team-a/pupistry/reports/*'],
      Sid: 'PupistryNodeReadsNoReports',
    })
  })
})
