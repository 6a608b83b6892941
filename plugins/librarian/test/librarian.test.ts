import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {lockedModules} from '../src/puppetfile-lock.js'
import {runCli, show} from '../../../test/helpers/cli.js'
import {linkOwnPlugin} from '../../../test/helpers/plugin-home.js'
import {World} from '../../../test/helpers/world.js'

// Forge modules cannot be reached from these machines: every module here comes
// from a git repository made on the fly, and Forge resolution is not tested.
describe('the librarian assembler (linked from plugins/librarian) with real librarian-puppet', () => {
  let world: World
  const buildRecord = (cache: string, environment: string) =>
    JSON.parse(readFileSync(path.join(cache, 'build', environment, 'build.json'), 'utf8')) as {
      version: string
      build: {assembler: string; commit: string; modules: Record<string, string>; tools: Record<string, string>}
    }

  before(async () => {
    world = await World.create({build: {assembler: 'librarian'}})
    await linkOwnPlugin(world, 'librarian')
  })
  after(() => world.cleanup())

  it('builds every branch, reporting the modules of Puppetfile.lock, the commit and its version', async () => {
    const result = await world.cli('build', '--json')
    assert.equal(result.code, 0, show(result))
    assert.deepEqual(
      (JSON.parse(result.stdout) as Array<{environment: string}>).map((entry) => entry.environment),
      ['feature_x', 'production', 'staging'],
    )
    const record = buildRecord(world.settings.general.app_cache as string, 'production')
    assert.equal(record.build.assembler, 'librarian')
    assert.match(record.build.modules.hello, /^v1\.0\.0@[0-9a-f]{40}$/)
    assert.match(record.build.modules.greeting, /^main@[0-9a-f]{40}$/)
    assert.match(record.build.commit, /^[0-9a-f]{40}$/)
    assert.match(record.build.tools['librarian-puppet'], /^\d+\.\d+/)
  })

  it('makes the same environment tree as r10k: the artifacts are byte for byte the same', async () => {
    // A non-ASCII branch: both must name it byte by byte as r10k does (café → caf__).
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'README'), 'x\n'), 'café', {
      newBranch: 'café',
    })
    const own = await world.cli('build')
    assert.equal(own.code, 0, show(own))
    const other = structuredClone(world.settings)
    other.build.assembler = 'r10k'
    other.general.app_cache = path.join(world.dir, 'r10k-cache')
    const file = path.join(world.dir, 'r10k.yaml')
    writeFileSync(file, stringify(other))
    const result = await world.cliWith(file, 'build')
    assert.equal(result.code, 0, show(result))
    for (const environment of ['caf__', 'feature_x', 'production', 'staging']) {
      assert.equal(
        buildRecord(other.general.app_cache as string, environment).version,
        buildRecord(world.settings.general.app_cache as string, environment).version,
        environment,
      )
    }
  })

  it('follows new commits: a module moved to another tag is rebuilt and reported', async () => {
    await world.commitToControl('staging', (dir) => {
      const puppetfile = path.join(dir, 'Puppetfile')
      writeFileSync(puppetfile, readFileSync(puppetfile, 'utf8').replace("'v1.0.0'", "'v1.1.0'"))
    })
    const result = await world.cli('build', '-e', 'staging')
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /staging: [0-9a-f]{12} built/)
    assert.match(buildRecord(world.settings.general.app_cache as string, 'staging').build.modules.hello, /^v1\.1\.0@/)
  })

  it('a branch that does not exist exits 12 and says so', async () => {
    const result = await world.cli('build', '-e', 'nosuchbranch')
    assert.equal(result.code, 12, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: the control repo file:\/\/.*control\.git has no branch for environment "nosuchbranch"$/m,
    )
  })

  it('a bad Puppetfile exits 12 with the file, line and reason, without a Ruby backtrace', async () => {
    await world.commitToControl('staging', (dir) =>
      writeFileSync(path.join(dir, 'Puppetfile'), "mod 'broken',\n  :git => \n"),
    )
    const result = await world.cli('build', '-e', 'staging')
    assert.equal(result.code, 12, show(result))
    assert.match(
      result.stderr,
      /librarian-puppet could not install the Puppetfile of branch staging: Puppetfile:2: syntax error/,
    )
    assert.doesNotMatch(result.stderr, /\.rb:\d+/)
  })

  it('a module that cannot be fetched exits 12 and names it', async () => {
    const ghost = `file://${world.dir}/no-such-module.git`
    await world.commitToControl('staging', (dir) =>
      writeFileSync(path.join(dir, 'Puppetfile'), `mod 'ghost', :git => '${ghost}', :ref => 'main'\n`),
    )
    const result = await world.cli('build', '-e', 'staging')
    assert.equal(result.code, 12, show(result))
    assert.match(
      result.stderr,
      new RegExp(`could not install the Puppetfile of branch staging: Could not checkout ${ghost}`),
    )
  })

  it('a ref that does not exist exits 12', async () => {
    await world.commitToControl('staging', (dir) =>
      writeFileSync(
        path.join(dir, 'Puppetfile'),
        `mod 'hello', :git => 'file://${world.repos}/modules/hello.git', :ref => 'v9.9.9'\n`,
      ),
    )
    const result = await world.cli('build', '-e', 'staging')
    assert.equal(result.code, 12, show(result))
    assert.match(result.stderr, /could not install the Puppetfile of branch staging: .*v9\.9\.9/)
  })

  it('an unreachable control repo exits 12 and hides its credentials', async () => {
    const file = path.join(world.dir, 'unreachable.yaml')
    writeFileSync(
      file,
      stringify({
        ...world.settings,
        build: {assembler: 'librarian', puppetcode: 'https://deploy:s3cret@127.0.0.1:9/nowhere.git'},
      }),
    )
    const result = await world.cliWith(file, 'build')
    assert.equal(result.code, 12, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: cannot fetch the control repo https:\/\/deploy:\*\*\*@127\.0\.0\.1:9\/nowhere\.git: /m,
    )
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret/)
  })

  it('a missing librarian-puppet exits 11 and says how to install it', async () => {
    const bin = path.join(world.dir, 'bin-without-librarian')
    mkdirSync(bin)
    symlinkSync('/usr/bin/git', path.join(bin, 'git'))
    const result = await runCli(['build', '-e', 'production', '--config', world.settingsFile], {
      env: {...world.env, PATH: bin},
    })
    assert.equal(result.code, 11, show(result))
    assert.match(
      result.stderr,
      /librarian-puppet is not installed or not on PATH \(Debian\/Ubuntu: apt-get install librarian-puppet/,
    )
  })
})

describe('Puppetfile.lock', () => {
  it('gives git modules as ref@commit and Forge modules as their version, named as r10k names them', () => {
    const lock = [
      'FORGE',
      '  remote: https://forge.example.invalid',
      '  specs:',
      '    puppetlabs-stdlib (9.4.1)',
      '',
      'GIT',
      '  remote: file:///srv/hello.git',
      '  ref: v1.0.0',
      `  sha: ${'a'.repeat(40)}`,
      '  specs:',
      '    hello (1.0.0)',
      '',
      'DEPENDENCIES',
      '  hello (>= 0)',
      '  puppetlabs-stdlib (>= 0)',
      '',
    ].join('\n')
    assert.deepEqual(lockedModules(lock), {hello: `v1.0.0@${'a'.repeat(40)}`, stdlib: '9.4.1'})
  })
})
