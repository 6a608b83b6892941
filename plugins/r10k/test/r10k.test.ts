import assert from 'node:assert/strict'
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {runCli, show} from '../../../test/helpers/cli.js'
import {World} from '../../../test/helpers/world.js'

describe('the r10k assembler turns r10k failures into clear errors', () => {
  let world: World
  before(async () => {
    world = await World.create()
  })
  after(() => world.cleanup())

  it('reports what it resolved: module name → ref@commit, and the control repo commit', async () => {
    const result = await world.cli('build', '-e', 'production')
    assert.equal(result.code, 0, show(result))
    const {readFileSync} = await import('node:fs')
    const record = JSON.parse(
      readFileSync(path.join(world.settings.general.app_cache as string, 'build', 'production', 'build.json'), 'utf8'),
    )
    assert.match(record.build.modules.hello, /^v1\.0\.0@[0-9a-f]{40}$/)
    assert.match(record.build.modules.greeting, /^main@[0-9a-f]{40}$/)
    assert.match(record.build.commit, /^[0-9a-f]{40}$/)
    assert.equal(record.build.assembler, 'r10k')
    assert.match(record.build.tools.r10k, /^\d+\.\d+/)
  })

  it('an unreachable remote exits 12 and names the remote, with credentials hidden', async () => {
    world.settings.build.puppetcode = 'https://deploy:s3cret@127.0.0.1:9/nowhere.git'
    world.writeSettings()
    const result = await world.cli('build')
    assert.equal(result.code, 12, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: r10k deploy of https:\/\/deploy:\*\*\*@127\.0\.0\.1:9\/nowhere\.git failed: /m,
    )
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret/)
    world.settings.build.puppetcode = `file://${world.repos}/control.git`
    world.writeSettings()
  })

  it("an unreachable git remote shows git's own reason, without --verbose", async () => {
    world.settings.build.puppetcode = `file://${world.dir}/no-such-control.git`
    world.writeSettings()
    try {
      const result = await world.cli('build')
      assert.equal(result.code, 12, show(result))
      assert.match(
        result.stderr,
        new RegExp(
          /^pupistry: error: r10k deploy of file:\/\/.*\/no-such-control\.git failed: Unable to /.source +
            /determine current branches for Git source .*; cause: '.*\/no-such-control\.git' does /.source +
            /not appear to be a git repository/.source,
          'm',
        ),
      )
    } finally {
      world.settings.build.puppetcode = `file://${world.repos}/control.git`
      world.writeSettings()
    }
  })

  it('a failing git (here: a full disk) shows its fatal line in the message', async () => {
    const bin = path.join(world.dir, 'bin-full-disk')
    mkdirSync(bin)
    // git as it fails when the disk fills while it fetches; everything else goes to the real git.
    const shim =
      `#!/bin/sh\ncase " $* " in *" clone "*|*" fetch "*) echo "fatal: write error: No space left on device" >&2; ` +
      `exit 128;; esac\nexec /usr/bin/git "$@"\n`
    writeFileSync(path.join(bin, 'git'), shim, {mode: 0o755})
    const cache = path.join(world.dir, 'cache-full-disk')
    const settings = path.join(world.dir, 'full-disk.yaml')
    writeFileSync(settings, dump({...world.settings, general: {...world.settings.general, app_cache: cache}}))
    const result = await runCli(['build', '--config', settings], {env: {PATH: `${bin}:${process.env.PATH}`}})
    assert.equal(result.code, 12, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: r10k deploy of .* failed: .*; cause: write error: No space left on device/m,
    )
  })

  it('a branch with non-ASCII characters is named as r10k names it, byte by byte (café → caf__)', async () => {
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'README'), 'x\n'), 'café', {
      newBranch: 'café',
    })
    const all = await world.cli('build', '--json')
    assert.equal(all.code, 0, show(all))
    assert.ok(
      JSON.parse(all.stdout).some((built: {environment: string}) => built.environment === 'caf__'),
      all.stdout,
    )
    const one = await world.cli('build', '-e', 'caf__')
    assert.equal(one.code, 0, show(one))
  })

  it('a branch that does not exist exits 12', async () => {
    const result = await world.cli('build', '-e', 'nosuchbranch')
    assert.equal(result.code, 12, show(result))
    assert.match(result.stderr, /r10k deploy of .* failed: Environment\(s\) 'nosuchbranch' cannot be found/)
  })

  it("a bad Puppetfile exits 12 with r10k's reason", async () => {
    await world.commitToControl('staging', (dir) =>
      writeFileSync(path.join(dir, 'Puppetfile'), "mod 'broken',\n  :git => \n"),
    )
    const result = await world.cli('build', '-e', 'staging')
    assert.equal(result.code, 12, show(result))
    assert.match(
      result.stderr,
      /no environment could be built:\n {2}staging: r10k could not deploy branch staging: .*Puppetfile:2:/,
    )
  })

  it('a module that cannot be fetched exits 12', async () => {
    await world.commitToControl('staging', (dir) =>
      writeFileSync(
        path.join(dir, 'Puppetfile'),
        `mod 'ghost', :git => 'file://${world.dir}/no-such-module.git', :ref => 'main'\n`,
      ),
    )
    const result = await world.cli('build', '-e', 'staging')
    assert.equal(result.code, 12, show(result))
    assert.match(result.stderr, /staging: r10k could not deploy branch staging: .*no-such-module\.git/)
  })

  it('a missing r10k exits 11 and says how to install it', async () => {
    const bin = path.join(world.dir, 'bin-without-r10k')
    mkdirSync(bin)
    symlinkSync('/usr/bin/git', path.join(bin, 'git'))
    const result = await runCli(['build', '--config', world.settingsFile], {env: {PATH: bin}})
    assert.equal(result.code, 11, show(result))
    assert.match(result.stderr, /r10k is not installed or not on PATH \(Debian\/Ubuntu: apt-get install r10k/)
  })
})
