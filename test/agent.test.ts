import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {startTimeOf} from '../src/agent/process-tree.js'
import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

async function ok(world: World, ...args: string[]) {
  const result = await world.cli(...args)
  assert.equal(result.code, 0, show(result))
  return result
}

describe('the agent: lock, Puppet failures, expiry, force and downgrade', () => {
  let world: World
  let lockFile: string
  before(async () => {
    world = await World.create()
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
    lockFile = path.join(world.settings.general.app_cache as string, 'agent', 'apply.lock')
  })
  after(() => world.cleanup())

  it('a second apply while one holds the lock exits 22 and changes nothing', async () => {
    mkdirSync(path.dirname(lockFile), {recursive: true})
    const holder = spawn('sleep', ['30'])
    try {
      writeFileSync(lockFile, `${holder.pid}\n`)
      const result = await world.cli('apply')
      assert.equal(result.code, 22, show(result))
      assert.match(result.stderr, new RegExp(`another pupistry apply \\(pid ${holder.pid}\\) is running on this node`))
      assert.equal(world.activeVersion(), undefined)
    } finally {
      holder.kill()
    }
  })

  it('a stale lock left by a dead process is taken over', async () => {
    writeFileSync(lockFile, '999999999\n')
    await ok(world, 'apply')
    assert.ok(world.activeVersion())
    assert.throws(() => readFileSync(lockFile), /ENOENT/, 'lock released')
  })

  it('a Puppet left running by a pupistry that died is stopped, with a warning, before the next run', async () => {
    const orphan = spawn('sleep', ['300'], {detached: true, stdio: 'ignore'})
    await new Promise((resolve) => orphan.once('spawn', resolve))
    const gone = new Promise((resolve) => orphan.once('exit', resolve))
    try {
      const started = startTimeOf(orphan.pid!)
      writeFileSync(
        path.join(path.dirname(lockFile), 'puppet.json'),
        JSON.stringify({by: {pid: 999_999_999, started: '1'}, puppet: {pid: orphan.pid, started}}),
      )
      const result = await ok(world, 'apply')
      assert.match(
        result.stderr,
        new RegExp(
          `Puppet \\(pid ${orphan.pid}\\) started by a pupistry run that is gone \\(pid 999999999\\) is still running: stopping it`,
        ),
      )
      await gone
      assert.throws(
        () => readFileSync(path.join(path.dirname(lockFile), 'puppet.json')),
        /ENOENT/,
        'the record is removed after the run',
      )
    } finally {
      orphan.kill('SIGKILL')
    }
  })

  it('Puppet failures exit 30, are not recorded as applied, and --minimal runs Puppet again', async () => {
    await world.commitToControl('production', (dir) => {
      writeFileSync(path.join(dir, 'manifests', 'zz-fail.pp'), "exec { 'always fails': command => '/bin/false' }\n")
    })
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
    const failed = await world.cli('apply', '--minimal')
    assert.equal(failed.code, 30, show(failed))
    assert.match(failed.stderr, /puppet apply on production reported failures \(exit code [46]\)/)
    const status = JSON.parse((await ok(world, 'status', '--json')).stdout).environments[0]
    assert.notEqual(status.installed.appliedVersion, status.installed.version)
    const retried = await world.cli('apply', '--minimal')
    assert.equal(retried.code, 30, 'the failed version is retried, not skipped')
    assert.match(retried.stderr, /running puppet apply/)
  })

  it('--force re-downloads and re-applies the newest release, but never a lower serial', async () => {
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', 'zz-fail.pp'), '# fixed\n'),
    )
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
    await ok(world, 'apply', '--minimal')
    const forced = await ok(world, 'apply', '--force', '--minimal')
    assert.match(forced.stderr, /downloading serial 3/)
    assert.match(forced.stderr, /running puppet apply/)

    await world.withReplayedManifest(2, async () => {
      const refused = await world.cli('apply', '--force')
      assert.equal(refused.code, 20, show(refused))
      assert.match(refused.stderr, /older than the installed serial 3/)
      // Serial 2 is the release whose Puppet run fails: a dry run shows the downgrade was accepted.
      const downgraded = await ok(world, 'apply', '--allow-downgrade', '--noop')
      assert.match(downgraded.stdout, /installed serial 2/)
    })

    await ok(world, 'apply', '--minimal')
  })

  it('an expired manifest is never installed: the node keeps its release, warns and exits 21', async () => {
    world.settings.general.manifest_ttl = 1
    world.writeSettings()
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', 'expiring.pp'), '# short-lived\n'),
    )
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
    const active = world.activeVersion()
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const result = await world.cli('apply', '--minimal')
    assert.equal(result.code, 21, show(result))
    assert.match(result.stderr, /expired at .*; keeping the installed release/)
    assert.match(result.stderr, /push --refresh/)
    assert.equal(world.activeVersion(), active)

    world.settings.general.manifest_ttl = '1h'
    world.writeSettings()
    const refreshed = await ok(world, 'push', '--refresh')
    assert.match(refreshed.stdout, /as serial 5/)
    const applied = await ok(world, 'apply', '--minimal')
    assert.match(applied.stdout, /installed serial 5/)
    delete world.settings.general.manifest_ttl
    world.writeSettings()
  })

  it('first activation moves code deployed by other means aside instead of deleting it', async () => {
    const staging = path.join(world.puppetcode, 'staging')
    mkdirSync(path.join(staging, 'manifests'), {recursive: true})
    writeFileSync(path.join(staging, 'manifests', 'site.pp'), '# deployed by hand\n')
    await ok(world, 'build', '-e', 'staging')
    await ok(world, 'push', '-e', 'staging')
    await ok(world, 'apply', '-e', 'staging', '--noop')
    assert.ok(world.activeVersion('staging'))
    const aside = readdirSync(world.puppetcode).find((name) => name.startsWith('staging.pupistry-previous-'))
    assert.ok(aside)
    assert.equal(
      readFileSync(path.join(world.puppetcode, aside, 'manifests', 'site.pp'), 'utf8'),
      '# deployed by hand\n',
    )
  })

  it('a state file that cannot be parsed is moved aside and stops runs (exit 18) until the operator deals with it', async () => {
    const dir = path.dirname(lockFile)
    const stateFile = path.join(dir, 'state.json')
    const good = readFileSync(stateFile, 'utf8')
    writeFileSync(stateFile, good.slice(0, good.length / 2))
    const first = await world.cli('apply')
    assert.equal(first.code, 18, show(first))
    assert.match(
      first.stderr,
      new RegExp(
        `the agent state ${stateFile.replaceAll('.', '\\.')} is not valid JSON .*; it was moved to ` +
          `${stateFile.replaceAll('.', '\\.')}\\.corrupt-`,
      ),
    )
    assert.match(first.stderr, /hint: the state holds the newest serial this node accepted/)
    const corrupt = readdirSync(dir).filter((name) => name.startsWith('state.json.corrupt-'))
    assert.equal(corrupt.length, 1)

    // The next run does not start afresh without the serial floor: it still refuses, and status --check sees the failure.
    const second = await world.cli('apply')
    assert.equal(second.code, 18, show(second))
    assert.match(
      second.stderr,
      /the agent state was found unreadable and moved to .*state\.json\.corrupt-.*; runs stop until it is dealt with/,
    )
    assert.equal((await world.cli('status', '--check')).code, 40)

    // The operator puts a good copy back and removes the corrupt one: runs go on with the floor (serial 5) they had.
    writeFileSync(stateFile, good)
    rmSync(path.join(dir, corrupt[0]))
    await world.withReplayedManifest(2, async () => {
      const replayed = await world.cli('apply')
      assert.equal(replayed.code, 20, show(replayed))
      assert.match(replayed.stderr, /older than the installed serial 5/)
    })

    await ok(world, 'apply')
  })

  it('a state file that cannot be read (not a file) stops the run too', async () => {
    const stateFile = path.join(path.dirname(lockFile), 'state.json')
    const good = readFileSync(stateFile, 'utf8')
    rmSync(stateFile)
    mkdirSync(stateFile)
    try {
      const result = await world.cli('apply')
      assert.equal(result.code, 18, show(result))
      assert.match(result.stderr, /cannot read the agent state .*state\.json: EISDIR/)
    } finally {
      for (const name of readdirSync(path.dirname(lockFile))) {
        if (name.startsWith('state.json'))
          rmSync(path.join(path.dirname(lockFile), name), {force: true, recursive: true})
      }

      writeFileSync(stateFile, good)
    }

    await ok(world, 'apply')
  })
})

describe('publishing', () => {
  let world: World
  before(async () => {
    world = await World.create()
  })
  after(() => world.cleanup())

  it('two pushes at once never publish the same serial', async () => {
    // Two build machines with their own caches, building different commits of one branch.
    const other = structuredClone(world.settings)
    other.general.app_cache = path.join(world.dir, 'cache-2')
    const otherFile = path.join(world.dir, 'other.yaml')
    writeFileSync(otherFile, stringify(other))
    await ok(world, 'build', '-e', 'production')
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', 'other.pp'), '# other\n'),
    )
    const built = await world.cliWith(otherFile, 'build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all([
        world.cli('push', '--refresh'),
        world.cliWith(otherFile, 'push', '--refresh'),
        world.cli('push'),
        world.cliWith(otherFile, 'push'),
      ])
      for (const result of results) assert.ok(result.code === 0 || result.code === 15, show(result))
    }

    const manifests = readdirSync(world.storePath('production', 'manifests'))
    const serials = manifests.map((name) => Number(name.replace('.json', '')))
    assert.deepEqual(
      serials,
      [...new Set(serials)].sort((a, b) => a - b),
    )
    assert.deepEqual(
      serials,
      serials.map((_, index) => index + 1),
      'serials are consecutive, none reused',
    )
    const pointer = JSON.parse(
      Buffer.from(
        JSON.parse(readFileSync(world.storePath('production', 'latest.json'), 'utf8')).payload,
        'base64',
      ).toString(),
    )
    assert.equal(pointer.serial, Math.max(...serials), 'the pointer names the newest serial')
  })

  it('publishes unsigned only with gpg_disable, loudly, and such a node accepts it with a warning', async () => {
    const settings = structuredClone(world.settings)
    settings.general = {app_cache: settings.general.app_cache, gpg_disable: true, storage: settings.general.storage}
    const file = path.join(world.dir, 'unsigned.yaml')
    writeFileSync(file, stringify(settings))
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', 'unsigned.pp'), '# unsigned\n'),
    )
    assert.equal((await world.cliWith(file, 'build', '-e', 'production')).code, 0)
    const pushed = await world.cliWith(file, 'push')
    assert.equal(pushed.code, 0, show(pushed))
    assert.match(pushed.stderr, /publishing UNSIGNED manifests/)
    assert.match(pushed.stdout, /UNSIGNED/)
    const applied = await world.cliWith(file, 'apply', '--noop')
    assert.equal(applied.code, 0, show(applied))
    assert.match(applied.stderr, /signature was NOT checked/)
    const refused = await world.cli('apply', '--force')
    assert.equal(refused.code, 20, show(refused))
    assert.match(refused.stderr, /is not signed, and this node only accepts signed manifests/)
  })
})
