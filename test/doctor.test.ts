import assert from 'node:assert/strict'
import {chmodSync, existsSync, mkdirSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

interface Report {
  ok: boolean
  checks: Array<{name: string; status: string; detail: string; exitCode?: number}>
}

const statuses = (report: Report) => Object.fromEntries(report.checks.map((check) => [check.name, check.status]))

describe('doctor checks settings, tools, keys and the file store', () => {
  let world: World
  before(async () => {
    world = await World.create()
  })
  after(() => world?.cleanup())

  it('before anything is published: tools and keys ok, the store writable, a warning that nothing is live', async () => {
    chmodSync(world.store, 0o750)
    const result = await world.cli('doctor', '--json')
    assert.equal(result.code, 0, show(result))
    const report = JSON.parse(result.stdout) as Report
    assert.deepEqual(statuses(report), {
      assembler: 'ok',
      exposure: 'ok',
      'least privilege': 'skip',
      puppet: 'ok',
      settings: 'ok',
      'signing key': 'ok',
      'store (agent)': 'warn',
      'store (build)': 'ok',
      'trusted keys': 'ok',
    })
    assert.match(report.checks.find((check) => check.name === 'assembler')!.detail, /r10k \d+\.\d+/)
  })

  it('after a push the node side reads and verifies the live manifest; a store open to all local users is a warning', async () => {
    for (const step of [['build', '-e', 'production'], ['push']]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    chmodSync(world.store, 0o755)
    const result = await world.cli('doctor')
    assert.equal(result.code, 0, show(result))
    assert.match(
      result.stdout,
      new RegExp(
        /^ok\s+store \(agent\)\s+this user \(\w+\) can read production serial 1 \(signed by /.source +
          /Test Signer <signer@example\.invalid>\) and its artifact/.source,
        'm',
      ),
    )
    assert.match(result.stdout, /^WARN\s+exposure\s+.* is open to every local user \(mode 0755\)/m)
    chmodSync(world.store, 0o750)
  })

  it('a probe an earlier doctor left behind is removed once an hour old; a fresh one is not touched', async () => {
    const probes = path.join(world.store, 'pupistry', '.doctor')
    mkdirSync(probes, {recursive: true})
    const [stale, fresh] = ['probe-0123456789ab', 'probe-ba9876543210'].map((name) => path.join(probes, name))
    for (const file of [stale, fresh]) writeFileSync(file, 'left behind\n')
    const longAgo = new Date(Date.now() - 2 * 3_600_000)
    utimesSync(stale, longAgo, longAgo)
    const result = await world.cli('doctor')
    assert.equal(result.code, 0, show(result))
    assert.equal(existsSync(stale), false)
    assert.equal(existsSync(fresh), true)
  })

  it("failures are all listed, and the exit code is the first failure's", async () => {
    const settings = path.join(world.dir, 'broken.yaml')
    writeFileSync(
      settings,
      dump({
        ...world.settings,
        agent: {...world.settings.agent, puppet: '/nonexistent/puppet'},
        general: {...world.settings.general, storage: path.join(world.dir, 'no-store')},
      }),
    )
    const result = await world.cliWith(settings, 'doctor')
    assert.equal(result.code, 13, show(result))
    assert.match(result.stdout, /^FAIL\s+store \(build\)\s+store directory .*no-store does not exist/m)
    assert.match(result.stdout, /^FAIL\s+puppet\s+\/nonexistent\/puppet does not run/m)
    assert.match(result.stdout, /^ok\s+trusted keys/m)
  })

  it('settings for neither a build machine nor a node are a settings failure', async () => {
    const dir = path.join(world.dir, 'empty')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'settings.yaml'), 'general:\n  storage: /tmp\n')
    const result = await world.cliWith(path.join(dir, 'settings.yaml'), 'doctor')
    assert.equal(result.code, 10, show(result))
    assert.match(result.stdout, /^FAIL\s+role\s+the settings configure neither a build machine/m)
  })
})
