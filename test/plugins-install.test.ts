import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT, show} from './helpers/cli.js'
import {NpmRegistry} from './helpers/npm-registry.js'
import {pluginHome} from './helpers/plugin-home.js'
import {World} from './helpers/world.js'

interface Listed {
  kind: string
  name: string
  plugin: string
  version: string
}

const LIBRARIAN = JSON.parse(readFileSync(path.join(ROOT, 'plugins', 'librarian', 'package.json'), 'utf8')) as {
  name: string
  version: string
}

describe('@pupistry/librarian installed from a private npm registry, then build → push → apply with it', () => {
  let registry: NpmRegistry
  let world: World
  const librarianListed = async () => {
    const result = await world.cli('providers', '--json')
    assert.equal(result.code, 0, show(result))
    return (JSON.parse(result.stdout) as Listed[]).find(
      (entry) => entry.kind === 'assemblers' && entry.name === 'librarian',
    )
  }

  before(async () => {
    registry = await NpmRegistry.start()
    await registry.publish(path.join(ROOT, 'plugins', 'librarian'))
    world = await World.create({build: {assembler: 'librarian'}})
    world.env = {...pluginHome(world.dir), npm_config_registry: registry.url}
  })
  after(() => {
    world?.cleanup()
    registry?.stop()
  })

  it('is not there out of the box, and choosing it says which plugin to install', async () => {
    assert.equal(await librarianListed(), undefined)
    const result = await world.cli('build')
    assert.equal(result.code, 2, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: no assembler named "librarian" is installed \(available: native, r10k\)$/m,
    )
    assert.match(result.stderr, /^hint: run `pupistry plugins install @pupistry\/librarian`$/m)
  })

  it('installs with `pupistry plugins install` from the registry npm is configured with', async (t) => {
    const started = performance.now()
    const result = await world.cliWithoutSettings('plugins', 'install', LIBRARIAN.name)
    t.diagnostic(`plugins install took ${Math.round(performance.now() - started)} ms`)
    assert.equal(result.code, 0, show(result))
    const listing = await world.cliWithoutSettings('plugins')
    assert.match(listing.stdout, new RegExp(`^${LIBRARIAN.name} ${LIBRARIAN.version.replace(/\./g, '\\.')}$`, 'm'))
    assert.deepEqual(await librarianListed(), {
      description: 'Checks out every branch of build.puppetcode and installs its Puppetfile with librarian-puppet.',
      kind: 'assemblers',
      name: 'librarian',
      plugin: LIBRARIAN.name,
      type: 'user',
      version: LIBRARIAN.version,
    })
  })

  it('builds, pushes and applies with build.assembler: librarian and real librarian-puppet and puppet', async (t) => {
    const started = performance.now()
    const built = await world.cli('build', '--json')
    t.diagnostic(`librarian build of 3 branches took ${Math.round(performance.now() - started)} ms`)
    assert.equal(built.code, 0, show(built))
    const production = (JSON.parse(built.stdout) as Array<{environment: string; version: string}>).find(
      (entry) => entry.environment === 'production',
    )!
    const record = JSON.parse(
      readFileSync(path.join(world.settings.general.app_cache as string, 'build', 'production', 'build.json'), 'utf8'),
    )
    assert.equal(record.build.assembler, 'librarian')
    assert.match(record.build.modules.hello, /^v1\.0\.0@[0-9a-f]{40}$/)

    const pushed = await world.cli('push')
    assert.equal(pushed.code, 0, show(pushed))
    const applied = await world.cli('apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    assert.equal(JSON.parse(applied.stdout).action, 'installed')
    assert.equal(world.activeVersion(), production.version)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n')
    assert.equal(world.targetFile('greeting.txt'), 'Greeting: production says hi\n')
  })

  it('uninstalls, and the provider is gone again', async () => {
    const result = await world.cliWithoutSettings('plugins', 'uninstall', LIBRARIAN.name)
    assert.equal(result.code, 0, show(result))
    assert.equal(await librarianListed(), undefined)
    const build = await world.cli('build')
    assert.equal(build.code, 2, show(build))
    assert.match(build.stderr, /hint: run `pupistry plugins install @pupistry\/librarian`/)
  })

  it("honours a registry for the scope in the user's .npmrc too", async () => {
    const env = pluginHome(path.join(world.dir, 'npmrc-user'))
    writeFileSync(path.join(env.HOME!, '.npmrc'), `@pupistry:registry=${registry.url}\n`)
    world.env = env
    const result = await world.cliWithoutSettings('plugins', 'install', LIBRARIAN.name)
    assert.equal(result.code, 0, show(result))
    assert.equal((await librarianListed())?.version, LIBRARIAN.version)
  })
})
