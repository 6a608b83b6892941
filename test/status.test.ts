import assert from 'node:assert/strict'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

interface Report {
  store?: string
  storeError?: string
  stateError?: string
  environments: Array<{environment: string; built?: unknown; published?: {serial: number}; installed?: unknown}>
}

async function ok(world: World, ...args: string[]) {
  const result = await world.cli(...args)
  assert.equal(result.code, 0, show(result))
  return result
}

describe('status says when a side cannot be read, instead of "nothing there"', () => {
  let world: World
  before(async () => {
    world = await World.create({general: {gpg_disable: true}, noKeys: true})
  })
  after(() => world?.cleanup())

  it('an unreadable store: one warning naming the store and why, exit 0, storeError in --json', async () => {
    // Tests run as root, who reads any directory: a store path that is a regular file cannot be read by anyone.
    const blocked = path.join(world.dir, 'blocked-store')
    writeFileSync(blocked, 'not a directory\n')
    world.settings.general.storage = `file://${blocked}`
    world.writeSettings()
    try {
      const result = await world.cli('status')
      assert.equal(result.code, 0, show(result))
      const warnings = result.stderr.split('\n').filter((line) => line.startsWith('warning:'))
      assert.equal(warnings.length, 1, show(result))
      assert.match(
        warnings[0],
        /^warning: cannot read the store .*blocked-store.*: store directory .*blocked-store is not a directory/,
      )

      const json = await world.cli('status', '--json')
      assert.equal(json.code, 0, show(json))
      const report = JSON.parse(json.stdout) as Report
      assert.match(report.storeError ?? '', /blocked-store is not a directory/)
      assert.equal(report.stateError, undefined)
      assert.deepEqual(report.environments, [])
    } finally {
      world.settings.general.storage = `file://${world.store}`
      world.writeSettings()
    }
  })

  it('environments published to a readable store are listed even if this machine never built or installed them', async () => {
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push', '-e', 'production')
    // Another machine: the same store, a build cache of its own.
    world.settings.general.app_cache = path.join(world.dir, 'other-cache')
    world.writeSettings()
    const report = JSON.parse((await ok(world, 'status', '--json')).stdout) as Report
    assert.equal(report.storeError, undefined)
    assert.deepEqual(
      report.environments.map((entry) => [entry.environment, entry.published?.serial, entry.built]),
      [['production', 1, undefined]],
    )
  })

  it('an unreadable agent state: a warning, exit 0, stateError in --json; the published side still shows', async () => {
    const state = path.join(world.dir, 'other-cache', 'agent', 'state.json')
    rmSync(state, {force: true, recursive: true})
    mkdirSync(state, {recursive: true})
    const result = await world.cli('status')
    assert.equal(result.code, 0, show(result))
    assert.match(
      result.stderr,
      /^warning: cannot read this node's agent state: cannot read the agent state .*state\.json/m,
    )
    assert.match(result.stdout, /^production /m)

    const report = JSON.parse((await ok(world, 'status', '--json')).stdout) as Report
    assert.match(report.stateError ?? '', /state\.json/)
    assert.equal(report.storeError, undefined)
    assert.equal(report.environments[0]?.published?.serial, 1)
  })
})
