import assert from 'node:assert/strict'
import {appendFileSync, existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {show} from './helpers/cli.js'
import {linkOwnPlugin} from './helpers/plugin-home.js'
import {World} from './helpers/world.js'

interface Failure {
  environment: string
  branch?: string
  error: string
  puppetfileLine?: number
}

/**
 * Two broken branches beside the fixture's good ones: `broken-syntax` whose
 * Puppetfile does not parse (line 8), and `badtag` pinning a tag that does
 * not exist. Neither may stop production, staging and feature_x.
 */
async function breakTwoBranches(world: World): Promise<void> {
  await world.commitToControl(
    'production',
    (dir) => appendFileSync(path.join(dir, 'Puppetfile'), "mod 'bad', :git => 'x' :ref\n"),
    'broken Puppetfile',
    {newBranch: 'broken-syntax'},
  )
  await world.commitToControl(
    'production',
    (dir) => {
      const puppetfile = path.join(dir, 'Puppetfile')
      writeFileSync(puppetfile, readFileSync(puppetfile, 'utf8').replace("'v1.0.0'", "'v9.9.9'"))
    },
    'pin a tag that does not exist',
    {newBranch: 'badtag'},
  )
}

for (const assembler of ['r10k', 'librarian'] as const) {
  describe(`one broken branch does not block the others (${assembler})`, () => {
    let world: World

    before(async () => {
      world = await World.create({build: {assembler}})
      if (assembler === 'librarian') await linkOwnPlugin(world, 'librarian')

      await breakTwoBranches(world)
    })
    after(() => world.cleanup())

    it('packs the good environments, names each failed branch (and the Puppetfile line), exits 19', async () => {
      const result = await world.cli('build', '--json')
      assert.equal(result.code, 19, show(result))
      const {error} = JSON.parse(result.stdout) as {
        error: {name: string; details: {built: Array<{environment: string}>; failed: Failure[]}}
      }
      assert.equal(error.name, 'PartialBuildError')
      assert.deepEqual(
        error.details.built.map((entry) => entry.environment),
        ['feature_x', 'production', 'staging'],
      )
      assert.deepEqual(
        error.details.failed.map((entry) => [entry.environment, entry.branch]),
        [
          ['badtag', 'badtag'],
          ['broken_syntax', 'broken-syntax'],
        ],
      )
      const [badtag, broken] = error.details.failed
      assert.equal(broken.puppetfileLine, 8)
      assert.match(broken.error, /branch broken-syntax: .*Puppetfile:8: syntax error/)
      assert.match(badtag.error, /branch badtag: .*v9\.9\.9/)
      assert.match(result.stderr, /2 of 5 environments failed to build; the other 3 were packed/)
      assert.match(result.stderr, /^ {2}broken_syntax: .*Puppetfile:8: syntax error/m)
      assert.match(result.stderr, /^ {2}badtag: .*v9\.9\.9/m)
      for (const environment of ['production', 'staging', 'feature_x']) {
        const dir = path.join(world.settings.general.app_cache as string, 'build', environment)
        assert.ok(existsSync(path.join(dir, 'build.json')), `${environment} was packed`)
      }
    })

    it('push publishes only what built, and --json lists the failed ones too', async () => {
      const result = await world.cli('push', '--json')
      assert.equal(result.code, 0, show(result))
      const results = JSON.parse(result.stdout) as Array<{environment: string; status: string; error?: string}>
      assert.deepEqual(
        results.map((entry) => [entry.environment, entry.status]),
        [
          ['feature_x', 'published'],
          ['production', 'published'],
          ['staging', 'published'],
          ['badtag', 'build-failed'],
          ['broken_syntax', 'build-failed'],
        ],
      )
      assert.match(results[4].error ?? '', /Puppetfile:8/)
      assert.match(result.stderr, /broken_syntax: not pushed: the last build of it failed/)
      assert.ok(existsSync(world.storePath('production', 'latest.json')))
      assert.ok(!existsSync(world.storePath('badtag')), 'nothing of badtag is in the store')
      assert.ok(!existsSync(world.storePath('broken_syntax')), 'nothing of broken_syntax is in the store')
    })

    it('a branch that built before and breaks now leaves the push list: no stale code is republished', async () => {
      await world.commitToControl('staging', (dir) =>
        appendFileSync(path.join(dir, 'Puppetfile'), "mod 'bad', :git => 'x' :ref\n"),
      )
      const built = await world.cli('build', '-e', 'staging', '-e', 'production')
      assert.equal(built.code, 19, show(built))
      assert.match(built.stdout, /production: [0-9a-f]{12} unchanged/)
      const push = await world.cli('push', '-e', 'staging')
      assert.equal(push.code, 2, show(push))
      assert.match(push.stderr, /environment staging failed in the last build: .*branch staging/)
    })

    it('only broken branches asked for: nothing is packed and the build exits 12', async () => {
      const result = await world.cli('build', '-e', 'badtag')
      assert.equal(result.code, 12, show(result))
      assert.match(result.stderr, /no environment could be built:\n {2}badtag: .*v9\.9\.9/)
    })
  })
}
