import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

interface FleetJson {
  nodes: {
    node: string
    channel?: string
    flags: string[]
    lastExit?: number
    serial?: number
    version?: string
    agent?: string
    pinned?: {serial: number; from: string | null}
  }[]
  checks: {ok: boolean; detail: string}[]
}

describe('fleet reports: nodes write signed reports, fleet verifies them and checks thresholds (file store)', () => {
  let world: World
  const registered = () => path.join(world.dir, 'report-keys')

  /** A node with its own report key (made by `keys generate`), registered on the build side under its id. */
  async function reportingNode(id: string, agent: Record<string, unknown>) {
    const dir = path.join(world.dir, 'nodes', id)
    mkdirSync(dir, {recursive: true})
    const generated = await world.cli('keys', 'generate', '--dir', dir, '--name', 'report', '--user-id', `report ${id}`)
    assert.equal(generated.code, 0, show(generated))
    copyFileSync(path.join(dir, 'report.public.asc'), path.join(registered(), `${id}.asc`))
    const file = path.join(dir, 'settings.yaml')
    const write = (extra: Record<string, unknown> = {}) =>
      writeFileSync(
        file,
        stringify({
          agent: {
            puppetcode: path.join(dir, 'code'),
            report_id: id,
            report_key: path.join(dir, 'report.secret.asc'),
            ...agent,
            ...extra,
          },
          general: {...world.settings.general, app_cache: path.join(dir, 'cache')},
        }),
      )
    write()
    return {apply: () => world.cliWith(file, 'apply', '--minimal'), dir, write}
  }

  async function fleetJson(...args: string[]): Promise<{code: number; json: FleetJson; stderr: string}> {
    const result = await world.cli('fleet', '--json', ...args)
    return {code: result.code, json: JSON.parse(result.stdout), stderr: result.stderr}
  }

  const reportFile = (id: string) => world.storePath('reports', id, 'production.json')

  let nodes: Record<string, Awaited<ReturnType<typeof reportingNode>>>
  before(async () => {
    world = await World.create()
    mkdirSync(registered())
    world.settings.general.report_keys = registered()
    world.writeSettings()
    assert.equal((await world.cli('build', '-e', 'production')).code, 0)
    assert.equal((await world.cli('push', '-e', 'production')).code, 0)
    assert.equal((await world.cli('push', '-e', 'production', '--channel', 'canary')).code, 0)
    nodes = {
      a: await reportingNode('node-a', {channel: 'canary'}),
      b: await reportingNode('node-b', {channel: 'canary'}),
      c: await reportingNode('node-c', {}),
    }
    for (const each of Object.values(nodes)) {
      const applied = await each.apply()
      assert.equal(applied.code, 0, show(applied))
    }
  })
  after(() => world.cleanup())

  it('lists the three nodes with channel, serial, result and agent version, none flagged', async () => {
    const {code, json} = await fleetJson('-e', 'production')
    assert.equal(code, 0)
    assert.deepEqual(
      json.nodes.map((node) => [node.node, node.channel, node.serial, node.lastExit, node.flags]),
      [
        ['node-a', 'canary', 2, 0, []],
        ['node-b', 'canary', 2, 0, []],
        ['node-c', 'stable', 1, 0, []],
      ],
    )
    assert.match(json.nodes[0].agent ?? '', /^\d+\.\d+\.\d+/)
    const text = await world.cli('fleet', '--channel', 'canary')
    assert.match(text.stdout, /^NODE +ENVIRONMENT +CHANNEL +SERIAL +VERSION +AGE +LAST RUN +AGENT +FLAGS$/m)
    assert.match(text.stdout, /^node-b +production +canary +2 +[0-9a-f]{12} +\d+s +ok +\S+ +ok$/m)
    assert.doesNotMatch(text.stdout, /node-c/)
  })

  it("flags a report by node A placed under node B's id as forged, and an unsigned or unregistered one", async () => {
    const saved = readFileSync(reportFile('node-b'))
    copyFileSync(reportFile('node-a'), reportFile('node-b'))
    mkdirSync(path.dirname(reportFile('node-x')), {recursive: true})
    const envelope = JSON.parse(readFileSync(reportFile('node-a'), 'utf8'))
    writeFileSync(reportFile('node-x'), JSON.stringify({...envelope, signatures: []}))
    mkdirSync(path.dirname(reportFile('node-y')), {recursive: true})
    copyFileSync(reportFile('node-a'), reportFile('node-y'))
    try {
      const {json} = await fleetJson()
      const flags = Object.fromEntries(json.nodes.map((node) => [node.node, node.flags]))
      assert.deepEqual(flags['node-b'], ['forged'])
      assert.deepEqual(flags['node-x'], ['unsigned'])
      assert.deepEqual(flags['node-y'], ['unregistered'])
      assert.deepEqual(flags['node-a'], [])
    } finally {
      writeFileSync(reportFile('node-b'), saved)
      writeFileSync(reportFile('node-x'), '')
    }
  })

  it('flags a stale report', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2100))
    const {json} = await fleetJson('--stale', '1', '--channel', 'canary')
    assert.ok(json.nodes.every((node) => node.flags.includes('stale')))
  })

  it('--check passes and fails as given; promote --require-fleet refuses on an unhealthy canary', async () => {
    const passed = await world.cli('fleet', '-e', 'production', '--check', 'canary:ok>=95%,age<=1h')
    assert.equal(passed.code, 0, show(passed))
    assert.match(passed.stdout, /^PASS canary:ok>=95%,age<=1h: 2 nodes of channel canary meet it$/m)

    nodes.b.write({puppet: '/bin/false'})
    assert.equal((await world.cliWith(path.join(nodes.b.dir, 'settings.yaml'), 'apply')).code, 31)
    const {code, json} = await fleetJson('-e', 'production', '--check', 'canary:ok>=95%')
    assert.equal(code, 41)
    // With --json a failed check is the error object, whose details carry the whole result.
    const {details} = (json as unknown as {error: {details: FleetJson}}).error
    assert.deepEqual(details.nodes.find((node) => node.node === 'node-b')?.flags, ['failing'])
    const failed = await world.cli('fleet', '--check', 'canary:ok>=95%')
    assert.equal(failed.code, 41, show(failed))
    assert.match(failed.stderr, /fleet check failed: canary:ok>=95%: 1 of 2 nodes ok \(50\.0 % < 95 %\)/)

    const refused = await world.cli(
      'promote',
      '-e',
      'production',
      '--from',
      'canary',
      '--to',
      'stable',
      '--require-fleet',
      'ok>=95%',
    )
    assert.equal(refused.code, 41, show(refused))
    nodes.b.write()
    assert.equal((await world.cliWith(path.join(nodes.b.dir, 'settings.yaml'), 'apply')).code, 0)
    const promoted = await world.cli(
      'promote',
      '-e',
      'production',
      '--from',
      'canary',
      '--to',
      'stable',
      '--require-fleet',
      'ok>=95%,age<=1h',
    )
    assert.equal(promoted.code, 0, show(promoted))
  })

  it('rollback writes a report: the node is flagged pinned, with the serial it rolled back from', async () => {
    const first = JSON.parse((await world.cli('fleet', '--json', '-e', 'production')).stdout).nodes.find(
      (node: {node: string}) => node.node === 'node-c',
    ).version
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'manifests', 'rb.pp'), '# rb\n'))
    assert.equal((await world.cli('build', '-e', 'production')).code, 0)
    assert.equal((await world.cli('push', '-e', 'production')).code, 0)
    const applied = await nodes.c.apply()
    assert.equal(applied.code, 0, show(applied))
    const {serial, version: newer} = (await fleetJson('-e', 'production')).json.nodes.find((n) => n.node === 'node-c')!
    const rolledBack = await world.cliWith(path.join(nodes.c.dir, 'settings.yaml'), 'rollback')
    assert.equal(rolledBack.code, 0, show(rolledBack))
    const {json} = await fleetJson('-e', 'production')
    const c = json.nodes.find((node) => node.node === 'node-c')!
    assert.deepEqual([c.flags, c.version, c.serial], [['pinned'], first, serial])
    assert.deepEqual([c.pinned?.serial, c.pinned?.from], [serial, newer])
    const text = await world.cli('fleet', '-e', 'production')
    assert.match(
      text.stdout,
      new RegExp(`^node-c .* pinned: rolled back from serial ${serial} \\(${newer?.slice(0, 12)}\\)$`, 'm'),
    )
  })

  it('a node that cannot write its report still applies, with a warning', async () => {
    const broken = await reportingNode('node-d', {report_key: path.join(world.dir, 'missing.asc')})
    const applied = await broken.apply()
    assert.equal(applied.code, 0, show(applied))
    assert.match(applied.stderr, /the fleet report was not written \(.*missing\.asc.*\); the run is not affected/)
  })
})
