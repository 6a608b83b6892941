import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

interface NoopJson {
  action: string
  serial: number
  version: string
  puppet: {changes: boolean; exitCode: number; noop?: boolean}
}

describe('apply --noop evaluates the candidate release without switching the live code', () => {
  let world: World
  let stateFile: string
  let releases: string
  let first: string

  const ok = async (...args: string[]) => {
    const result = await world.cli(...args)
    assert.equal(result.code, 0, show(result))
    return result
  }

  before(async () => {
    world = await World.create()
    stateFile = path.join(world.settings.general.app_cache as string, 'agent', 'state.json')
    releases = path.join(path.dirname(world.puppetcode), 'pupistry-releases', 'production')
    await ok('build', '-e', 'production')
    await ok('push')
    await ok('apply')
    first = world.activeVersion() ?? ''
    assert.ok(first)
    await world.commitToControl('production', (dir) => {
      const data = path.join(dir, 'data', 'common.yaml')
      writeFileSync(data, readFileSync(data, 'utf8').replace('production says hi', 'noop says hi'))
    })
    await ok('build', '-e', 'production')
    await ok('push')
  })
  after(() => world.cleanup())

  it('leaves the link and the node state as they were, and reports the pending change from the run summary', async () => {
    const state = readFileSync(stateFile, 'utf8')
    const result = await ok('apply', '--noop', '--json')
    const json = JSON.parse(result.stdout) as NoopJson
    assert.equal(json.action, 'pending')
    assert.equal(json.serial, 2)
    assert.notEqual(json.version, first)
    // Puppet exits 0 in noop mode even with pending changes: the summary's noop events say there are some.
    assert.deepEqual(json.puppet, {changes: true, exitCode: 0, failures: false, noop: true})
    assert.match(result.stderr, /greeting\.txt\]\/content: .*\(noop\)/)
    assert.equal(world.activeVersion(), first, 'the environment link did not move')
    assert.equal(readFileSync(stateFile, 'utf8'), state, 'serial floor, installed version, pins, last run unchanged')
    assert.equal(world.targetFile('greeting.txt'), 'Greeting: production says hi\n')
    assert.ok(existsSync(path.join(releases, json.version)), 'the downloaded release is kept')
    assert.deepEqual(
      readdirSync(releases).filter((name) => name.startsWith('.')),
      [],
      'no scratch environment path is left',
    )
  })

  it('says so for people', async () => {
    const result = await ok('apply', '--noop')
    const line = new RegExp(
      /^production: serial 2 \([0-9a-f]{12}\) downloaded and evaluated with --noop, not activated; /.source +
        /puppet has changes pending \(--noop: none applied\) \(exit 0\)$/.source,
      'm',
    )
    assert.match(result.stdout, line)
    assert.doesNotMatch(result.stderr, /downloading/, 'the kept release is evaluated again, not downloaded again')
  })

  it('the next real run activates the kept release without downloading it', async () => {
    const result = await ok('apply', '--minimal')
    assert.match(result.stdout, /installed serial 2/)
    assert.doesNotMatch(result.stderr, /downloading/)
    assert.notEqual(world.activeVersion(), first)
    assert.equal(world.targetFile('greeting.txt'), 'Greeting: noop says hi\n')
  })

  it('with nothing new, noop evaluates the active release and finds nothing pending', async () => {
    const result = await ok('apply', '--noop', '--json')
    const json = JSON.parse(result.stdout) as NoopJson
    assert.equal(json.action, 'current')
    assert.deepEqual(json.puppet, {changes: false, exitCode: 0, failures: false, noop: true})
  })

  it('cannot be combined with --unpin, which changes the node', async () => {
    const result = await world.cli('apply', '--noop', '--unpin')
    assert.equal(result.code, 2, show(result))
    assert.match(result.stderr, /--unpin changes the node, so it cannot be combined with --noop/)
  })

  it('--help says what noop does', async () => {
    const result = await ok('apply', '--help')
    assert.match(result.stdout, /--noop.*without switching/s)
  })
})
