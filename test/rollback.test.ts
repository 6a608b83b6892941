import assert from 'node:assert/strict'
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

async function ok(world: World, ...args: string[]) {
  const result = await world.cli(...args)
  assert.equal(result.code, 0, show(result))
  return result
}

async function installedState(world: World) {
  const report = JSON.parse((await ok(world, 'status', '--json')).stdout)
  return report.environments.find((entry: {environment: string}) => entry.environment === 'production').installed
}

describe('rollback on a node, signed rollback from the build side, and status --check', () => {
  let world: World
  let first: string
  let second: string
  before(async () => {
    world = await World.create()
    first = JSON.parse((await ok(world, 'build', '-e', 'production', '--json')).stdout)[0].version
    await ok(world, 'push')
    await ok(world, 'apply')
    await world.commitToControl('production', (dir) => {
      const puppetfile = path.join(dir, 'Puppetfile')
      writeFileSync(puppetfile, readFileSync(puppetfile, 'utf8').replace("'v1.0.0'", "'v1.1.0'"))
    })
    second = JSON.parse((await ok(world, 'build', '-e', 'production', '--json')).stdout)[0].version
    await ok(world, 'push')
    await ok(world, 'apply')
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.1.0\n')
  })
  after(() => world.cleanup())

  it('rollback re-activates the previous release, Puppet applies it, and it stays pinned', async () => {
    const result = await ok(world, 'rollback')
    assert.match(
      result.stderr,
      new RegExp(
        /rolled back from [0-9a-f]{12} to [0-9a-f]{12}; pinned until `pupistry apply --unpin` /.source +
          /or a new release \(a serial above 2 with a version other than [0-9a-f]{12}\)/.source,
      ),
    )
    assert.equal(world.activeVersion(), first)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n', 'Puppet applied the old content')
    const applied = await ok(world, 'apply')
    assert.match(applied.stdout, /pinned to [0-9a-f]{12} by rollback/)
    assert.equal(world.activeVersion(), first)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n')
    assert.equal((await installedState(world)).active, first)
    assert.equal((await installedState(world)).pinned, first)
    assert.match((await ok(world, 'status')).stdout, new RegExp(`${first.slice(0, 12)} \\(pinned\\)`))
    await ok(world, 'status', '--check')
  })

  it('apply --unpin returns to the newest release without downloading it again', async () => {
    const result = await ok(world, 'apply', '--unpin')
    assert.match(result.stderr, /unpinned/)
    assert.doesNotMatch(result.stderr, /downloading/)
    assert.equal(world.activeVersion(), second)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.1.0\n')
  })

  it('rollback --to names a kept release; unknown or malformed versions are refused', async () => {
    await ok(world, 'rollback', '--to', first.slice(0, 10), '--noop')
    assert.equal(world.activeVersion(), first)
    const unknown = await world.cli('rollback', '--to', 'abcdef0123')
    assert.equal(unknown.code, 15, show(unknown))
    assert.match(unknown.stderr, /no release of production with version abcdef0123 is kept on this node/)
    const malformed = await world.cli('rollback', '--to', 'v1')
    assert.equal(malformed.code, 2, show(malformed))
  })

  it(
    'push --refresh of the version rolled back from, or a signed rollback to the pinned version, keeps ' +
      'the pin; a new release lifts it',
    async () => {
      // Pinned to `first`, rolled back from `second` (serial 2). A daily refresh signs `second` again as serial 3.
      await ok(world, 'push', '--refresh')
      const refreshed = await ok(world, 'apply')
      assert.match(
        refreshed.stderr,
        /serial 3 signs [0-9a-f]{12} \(the version rolled back from\) again; the pin on [0-9a-f]{12} stays/,
      )
      assert.match(refreshed.stdout, /pinned to [0-9a-f]{12} by rollback/)
      assert.equal(world.activeVersion(), first)
      assert.equal((await installedState(world)).pinned, first)

      const pushed = await ok(world, 'push', '-e', 'production', '--version', second.slice(0, 8))
      assert.match(pushed.stdout, /is already live \(serial 3\); nothing to push/)
      const signedRollback = await ok(world, 'push', '-e', 'production', '--version', first.slice(0, 8))
      assert.match(
        signedRollback.stdout,
        new RegExp(`published ${first.slice(0, 12)} \\(an earlier build: a rollback\\) as serial 4`),
      )
      const manifest = JSON.parse(
        Buffer.from(
          JSON.parse(readFileSync(world.storePath('production', 'latest.json'), 'utf8')).payload,
          'base64',
        ).toString(),
      )
      assert.equal(manifest.serial, 4)
      assert.equal(manifest.version, first)
      const same = await ok(world, 'apply')
      assert.match(same.stderr, /serial 4 signs the pinned version again; the pin on [0-9a-f]{12} stays/)
      assert.equal(world.activeVersion(), first)

      // A genuinely new release lifts the pin and is installed.
      await world.commitToControl('production', (dir) =>
        writeFileSync(path.join(dir, 'manifests', 'third.pp'), '# a third release\n'),
      )
      const third = JSON.parse((await ok(world, 'build', '-e', 'production', '--json')).stdout)[0].version
      await ok(world, 'push')
      const applied = await ok(world, 'apply')
      assert.match(
        applied.stderr,
        /serial 5 is a new release \([0-9a-f]{12}\); the pin on [0-9a-f]{12} \(serial 2\) is lifted/,
      )
      assert.match(applied.stdout, /installed serial 5 \(/)
      assert.equal(world.activeVersion(), third)
      assert.equal((await installedState(world)).serial, 5)
      assert.equal((await installedState(world)).pinned, undefined)

      // Serial 1, the genuine signed manifest of this very content, put back by an attacker or a confused mirror: refused.
      await world.withReplayedManifest(1, async () => {
        const replayed = await world.cli('apply')
        assert.equal(replayed.code, 20, show(replayed))
        assert.match(replayed.stderr, /serial 1, older than the installed serial 5; refusing a rollback/)
        assert.equal(world.activeVersion(), third)
      })
    },
  )

  it('push --version needs one environment and a kept build', async () => {
    const unknown = await world.cli('push', '-e', 'production', '--version', 'abcdef12')
    assert.equal(unknown.code, 15, show(unknown))
    assert.match(unknown.stderr, /no kept build of production has version abcdef12/)
    const both = await world.cli('push', '--refresh', '--version', first.slice(0, 8))
    assert.equal(both.code, 2, show(both))
    // Without --environment it takes the one environment of the last build; with several built, it asks for one.
    await ok(world, 'build')
    const several = await world.cli('push', '--version', first.slice(0, 8))
    assert.equal(several.code, 2, show(several))
    assert.match(
      several.stderr,
      /--version publishes one environment, but the last build has 3 \(feature_x, production, staging\): name one with --environment/,
    )
  })

  it('status --check: 0 while converging, 40 when the last apply is too old or the last run failed', async () => {
    await ok(world, 'apply')
    const healthy = await ok(world, 'status', '--check', '--max-age', '1h')
    assert.match(healthy.stdout, /production: OK, last applied/)
    await new Promise((resolve) => setTimeout(resolve, 2100))
    const stale = await world.cli('status', '--check', '--max-age', '1')
    assert.equal(stale.code, 40, show(stale))
    assert.match(stale.stdout, /is older than 1 s/)

    renameSync(world.store, `${world.store}-gone`)
    try {
      assert.equal((await world.cli('apply')).code, 13)
      const failed = await world.cli('status', '--check', '--json')
      assert.equal(failed.code, 40, show(failed))
      const {error} = JSON.parse(failed.stdout)
      assert.equal(error.name, 'UnhealthyError')
      assert.equal(error.exitCode, 40)
      const [health] = error.details
      assert.equal(health.healthy, false)
      assert.match(health.problems.join('\n'), /failed with exit code 13: store directory .* does not exist/)
    } finally {
      renameSync(`${world.store}-gone`, world.store)
    }

    await ok(world, 'apply', '--minimal')
    await ok(world, 'status', '--check', '--max-age', '1h')
    const bad = await world.cli('status', '--check', '--max-age', 'soon')
    assert.equal(bad.code, 2, show(bad))
  })
})
