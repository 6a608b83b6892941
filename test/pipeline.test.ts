import assert from 'node:assert/strict'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

describe('build → diff → push → apply on the file store, with real r10k and puppet', () => {
  let world: World
  before(async () => {
    world = await World.create()
  })
  after(() => world.cleanup())

  let firstVersion: string

  it('builds one artifact per branch, named as r10k names environments', async () => {
    const result = await world.cli('build', '--json')
    assert.equal(result.code, 0, show(result))
    const built = JSON.parse(result.stdout) as Array<{environment: string; version: string; files: number}>
    assert.deepEqual(
      built.map((entry) => entry.environment),
      ['feature_x', 'production', 'staging'],
    )
    for (const entry of built) assert.match(entry.version, /^[0-9a-f]{64}$/)
    firstVersion = built.find((entry) => entry.environment === 'production')!.version
  })

  it('says nothing changed when nothing was pushed upstream', async () => {
    const result = await world.cli('build')
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /nothing changed — did you git push\?/)
    assert.match(result.stdout, new RegExp(`production: ${firstVersion.slice(0, 12)} unchanged`))
  })

  it('the same source built on another machine (another cache, another checkout) gives the same bytes', async () => {
    const other = structuredClone(world.settings)
    other.general.app_cache = path.join(world.dir, 'other-machine-cache')
    const file = path.join(world.dir, 'other-machine.yaml')
    writeFileSync(file, stringify(other))
    const result = await world.cliWith(file, 'build', '-e', 'production', '--json')
    assert.equal(result.code, 0, show(result))
    assert.equal(JSON.parse(result.stdout)[0].version, firstVersion)
    assert.deepEqual(
      readFileSync(path.join(other.general.app_cache as string, 'build', 'production', `${firstVersion}.tar.gz`)),
      readFileSync(
        path.join(world.settings.general.app_cache as string, 'build', 'production', `${firstVersion}.tar.gz`),
      ),
    )
  })

  it('keys export prints the public key nodes should trust', async () => {
    const result = await world.cli('keys', 'export')
    assert.equal(result.code, 0, show(result))
    assert.equal(result.stdout, readFileSync(path.join(world.keys, 'pupistry-signing.public.asc'), 'utf8'))
    assert.doesNotMatch(result.stdout, /PRIVATE/)
  })

  it('diff shows every environment as not published yet', async () => {
    const result = await world.cli('diff', '--stat')
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /production: not published yet/)
    assert.match(result.stdout, /A modules\/hello\/manifests\/init\.pp/)
  })

  it('push signs and publishes artifact, manifest and pointer; pushing again changes nothing', async () => {
    const result = await world.cli('push')
    assert.equal(result.code, 0, show(result))
    assert.match(
      result.stdout,
      /production: published [0-9a-f]{12} as serial 1, signed by Test Signer <signer@example\.invalid>/,
    )
    assert.deepEqual(readdirSync(world.storePath('production', 'manifests')), ['000000000001.json'])
    assert.deepEqual(readdirSync(world.storePath('production', 'artifacts')), [`${firstVersion}.tar.gz`])
    assert.equal(
      readFileSync(world.storePath('production', 'latest.json'), 'utf8'),
      readFileSync(world.storePath('production', 'manifests', '000000000001.json'), 'utf8'),
    )
    const again = await world.cli('push')
    assert.equal(again.code, 0, show(again))
    assert.match(again.stdout, /production: [0-9a-f]{12} is already live \(serial 1\); nothing to push/)
  })

  it("apply verifies, activates and runs puppet apply with the environment's modulepath and hiera data", async () => {
    const result = await world.cli('apply', '--json')
    assert.equal(result.code, 0, show(result))
    const applied = JSON.parse(result.stdout)
    assert.equal(applied.action, 'installed')
    assert.equal(applied.serial, 1)
    assert.equal(applied.puppet.exitCode, 2, 'first run makes changes')
    assert.equal(world.activeVersion(), firstVersion)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n')
    assert.equal(world.targetFile('greeting.txt'), 'Greeting: production says hi\n')
    // environment.conf's config_version script needs its exec bit from the source.
    const release = path.join(world.puppetcode, 'production')
    assert.ok(readFileSync(path.join(release, 'scripts', 'config_version.sh')).length > 0)
  })

  it('apply --minimal with nothing new does not run Puppet', async () => {
    const result = await world.cli('apply', '--minimal')
    assert.equal(result.code, 0, show(result))
    assert.match(result.stderr, /up to date \(serial 1, [0-9a-f]{12}\); --minimal: Puppet not run/)
    assert.doesNotMatch(result.stdout + result.stderr, /Compiled catalog/)
  })

  it('a module change upstream gives a new version, a diff naming the module, and the change applied', async () => {
    await world.commitToControl('production', (dir) => {
      const file = path.join(dir, 'Puppetfile')
      const text = readFileSync(file, 'utf8').replace("'v1.0.0'", "'v1.1.0'")
      writeFileSync(file, text)
    })
    const built = await world.cli('build', '--environment', 'production')
    assert.equal(built.code, 0, show(built))
    assert.match(built.stdout, /production: [0-9a-f]{12} built/)
    assert.doesNotMatch(built.stdout, /nothing changed/)

    const diff = await world.cli('diff', '--environment', 'production')
    assert.equal(diff.code, 0, show(diff))
    assert.match(diff.stdout, /~ hello v1\.0\.0@[0-9a-f]{12} → v1\.1\.0@[0-9a-f]{12}/)
    assert.match(diff.stdout, /-class hello \(String \$target, String \$message = 'hello from v1\.0\.0'\)/)
    assert.match(diff.stdout, /\+class hello \(String \$target, String \$message = 'hello from v1\.1\.0'\)/)
    assert.ok(!diff.stdout.includes('\u001B['), 'no colours in a pipe')

    const pushed = await world.cli('push', '--environment', 'production')
    assert.equal(pushed.code, 0, show(pushed))
    assert.match(pushed.stdout, /as serial 2/)

    const applied = await world.cli('apply', '--minimal')
    assert.equal(applied.code, 0, show(applied))
    assert.match(applied.stdout, /installed serial 2/)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.1.0\n')
    assert.notEqual(world.activeVersion(), firstVersion)
  })

  it('status shows built, published and installed versions', async () => {
    const result = await world.cli('status', '--json')
    assert.equal(result.code, 0, show(result))
    const report = JSON.parse(result.stdout)
    const production = report.environments.find((entry: {environment: string}) => entry.environment === 'production')
    assert.equal(production.published.serial, 2)
    assert.equal(production.built.version, production.published.version)
    assert.equal(production.installed.version, production.published.version)
    assert.equal(production.installed.appliedVersion, production.published.version)
  })

  it('keeps the previous release for rollback', async () => {
    const releases = readdirSync(path.join(path.dirname(world.puppetcode), 'pupistry-releases', 'production'))
    assert.ok(releases.includes(firstVersion), `releases: ${releases.join(', ')}`)
  })
})
