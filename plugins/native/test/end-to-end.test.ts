import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {after, before, describe, it} from 'node:test'

import {show} from '../../../test/helpers/cli.js'
import {World} from '../../../test/helpers/world.js'

// The quick start's sample (scripts/quickstart.sh makes it with the same fixture script), built with native.
describe('build.assembler: native on the quick start sample, through push and apply with real Puppet', () => {
  let world: World
  before(async () => {
    world = await World.create({agent: {environment: 'production'}, build: {assembler: 'native'}})
  })
  after(() => world.cleanup())

  it('builds, pushes and applies; a rebuild with nothing new changes nothing', async () => {
    const built = await world.cli('build')
    assert.equal(built.code, 0, show(built))
    assert.match(built.stderr, /with native/)
    const pushed = await world.cli('push')
    assert.equal(pushed.code, 0, show(pushed))
    assert.match(pushed.stdout, /production: published [0-9a-f]{12} as serial 1/)

    const applied = await world.cli('apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    const result = JSON.parse(applied.stdout)
    assert.equal(result.action, 'installed')
    assert.equal(result.puppet.exitCode, 2, 'the first run makes changes')
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n')
    assert.equal(world.targetFile('greeting.txt'), 'Greeting: production says hi\n')

    const rebuilt = await world.cli('build')
    assert.equal(rebuilt.code, 0, show(rebuilt))
    assert.match(rebuilt.stdout, /nothing changed/)
  })

  it('a module moved to a new tag reaches the node', async () => {
    await world.commitToControl('production', (dir) => {
      const file = `${dir}/Puppetfile`
      writeFileSync(file, readFileSync(file, 'utf8').replace("'v1.0.0'", "'v1.1.0'"))
    })
    for (const command of ['build', 'push']) {
      const result = await world.cli(command)
      assert.equal(result.code, 0, show(result))
    }

    const applied = await world.cli('apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    assert.equal(JSON.parse(applied.stdout).serial, 2)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.1.0\n')
  })
})
