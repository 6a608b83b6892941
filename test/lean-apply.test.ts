import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'

import {type CliResult, ROOT, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

/** Output with what differs between any two runs (times, durations) blanked. */
function normalised(result: CliResult): {code: number; stdout: string; stderr: string} {
  const blank = (text: string) =>
    text
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'TIME')
      .replace(/"duration": ?[\d.]+/g, '"duration": N')
      .replace(/ in [\d.]+ ?m?s\b/g, ' in N')
  return {code: result.code, stderr: blank(result.stderr), stdout: blank(result.stdout)}
}

/** @oclif/core is CommonJS, so NODE_DEBUG=module shows whether a run loaded it. */
const loadedOclif = (result: CliResult) => /@oclif[/\\]core/.test(result.stderr)

describe('apply without oclif (the lean path of bin/run.js)', () => {
  let world: World
  let oclif: NodeJS.ProcessEnv
  before(async () => {
    world = await World.create()
    oclif = {PUPISTRY_LEAN: '0'}
    for (const step of [['build'], ['push'], ['apply']]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }
  })
  after(() => world?.cleanup())

  it('serves a plain apply without loading oclif, and hands help, --daemon and unknown flags to oclif', async () => {
    world.env = {NODE_DEBUG: 'module'}
    try {
      const lean = await world.cli('apply', '--minimal')
      assert.equal(lean.code, 0, show(lean))
      assert.ok(!loadedOclif(lean), 'a plain apply loads no oclif')
      for (const args of [
        ['apply', '--help'],
        ['apply', '--bogus'],
        ['apply', '--daemon', '--unpin'],
      ]) {
        const handedOver = await world.cli(...args)
        assert.ok(loadedOclif(handedOver), `${args.join(' ')} goes through oclif`)
      }
      world.env = {...oclif, NODE_DEBUG: 'module'}
      assert.ok(loadedOclif(await world.cli('apply', '--minimal')), 'PUPISTRY_LEAN=0 goes through oclif')
    } finally {
      world.env = {}
    }
  })

  it('prints, logs and exits exactly as the oclif command does', async () => {
    const broken = path.join(world.dir, 'broken.yaml')
    writeFileSync(broken, 'general:\n  storage: [\n')
    const cases: string[][] = [
      ['apply', '--minimal'],
      ['apply', '--minimal', '--json'],
      ['apply', '--minimal', '--log-format', 'json'],
      ['apply', '--minimal', '-v', '-e', 'production'],
      ['apply', '-e', 'no-such-environment', '--minimal'],
      ['apply', '-e', 'no-such-environment', '--minimal', '--json'],
      ['apply', '-e', 'no-such-environment', '--minimal', '--log-format=json'],
      ['apply', '-e', 'bad name', '--minimal'],
    ]
    for (const args of cases) {
      world.env = {}
      const lean = normalised(await world.cli(...args))
      world.env = oclif
      const viaOclif = normalised(await world.cli(...args))
      assert.deepEqual(lean, viaOclif, `apply ${args.join(' ')}`)
    }
    for (const env of [{}, oclif]) {
      world.env = env
      const result = await world.cliWith(broken, 'apply', '--minimal')
      assert.equal(result.code, 10, show(result))
      assert.match(result.stderr, /^pupistry: error: .*broken\.yaml/m)
    }
    world.env = {}
  })

  it('runs from its bundle alone: no module of dist/ is loaded from its own file, so none twice; nothing new loads no crypto', async () => {
    const record = path.join(world.dir, 'modules.txt')
    const dist = pathToFileURL(path.join(ROOT, 'dist/')).href
    const outside: string[] = []
    const loaded = async (...args: string[]) => {
      writeFileSync(record, '')
      world.env = {
        NODE_OPTIONS: `--import=${path.join(ROOT, 'test/fixtures/record-modules.mjs')}`,
        PUPISTRY_TEST_MODULES: record,
      }
      const result = await world.cli(...args)
      world.env = {}
      const files = readFileSync(record, 'utf8').split('\n').filter(Boolean)
      outside.push(...files.filter((url) => url.startsWith(dist) && !url.startsWith(`${dist}agent-bundle/`)))
      return {files, result}
    }
    // Nothing new; a new release downloaded, checked and unpacked (its worker too); a store that fails.
    const current = await loaded('apply', '--minimal')
    assert.equal(current.result.code, 0, show(current.result))
    assert.ok(
      current.files.some((url) => url.endsWith('/dist/agent-bundle/agent-entry.js')),
      current.files.join('\n'),
    )
    // Each would load some thirty modules of Node's for a check that needs neither (src/util/lazy-node.ts).
    assert.ok(current.files.includes('node:fs'), 'builtins are recorded')
    assert.deepEqual(
      current.files.filter((name) => name === 'node:crypto' || name === 'node:child_process'),
      [],
    )
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'README.bundled'), 'new\n'))
    assert.equal((await world.cli('build', '-e', 'production')).code, 0)
    assert.equal((await world.cli('push', '-e', 'production')).code, 0)
    const installed = await loaded('apply', '--minimal')
    assert.equal(installed.result.code, 0, show(installed.result))
    assert.ok(installed.files.some((url) => url.endsWith('/dist/agent-bundle/unpack-worker.js')))
    writeFileSync(world.storePath('production', 'latest.json'), '{')
    const failed = await loaded('apply', '--minimal')
    assert.notEqual(failed.result.code, 0, show(failed.result))
    assert.doesNotMatch(failed.result.stderr, /internal error/)
    assert.deepEqual(outside, [])
  })
})
