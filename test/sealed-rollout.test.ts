import assert from 'node:assert/strict'
import {readFileSync, readlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {cohortPlace} from '../src/format/rollout.js'
import {type CliResult, show} from './helpers/cli.js'
import {type SealedNode, SealedWorld} from './helpers/sealed-world.js'

async function ok(result: Promise<CliResult>): Promise<CliResult> {
  const done = await result
  assert.equal(done.code, 0, show(done))
  return done
}

/** A rollout id whose place in `version`'s rollout is below 50 % (inside) or not (outside). */
function idFor(version: string, inside: boolean, taken: string[]): string {
  for (let n = 0; ; n++) {
    const id = `phase-${n}`
    if (!taken.includes(id) && cohortPlace(version, id) < 0.5 === inside) return id
  }
}

/**
 * A sealed release phased in with `push --rollout 50` (manifest format 2
 * with both `sealed` and `rollout`): a node in the cohort gets the new
 * release with its new sealed data; a node outside keeps its release and
 * that release's data; an empty node outside installs the previous release
 * the manifest names, with the previous release's own sealed data, never
 * the new data beside the old code.
 */
describe('sealed hiera in a phased rollout', () => {
  let sealed: SealedWorld
  let inside: SealedNode
  let outside: SealedNode
  let fresh: SealedNode
  const valuesOf = (node: SealedNode) => sealed.world.targetFile(`sealed-${node.name}.txt`)
  const builtVersion = () =>
    (
      JSON.parse(
        readFileSync(
          path.join(sealed.world.settings.general.app_cache as string, 'build', 'production', 'build.json'),
          'utf8',
        ),
      ) as {version: string}
    ).version

  before(async () => {
    sealed = await SealedWorld.create()
    inside = sealed.addNode('a.example', {role: 'web'})
    outside = sealed.addNode('d.example', {role: 'web'})
    fresh = sealed.addNode('e.example', {role: 'web'})
    await sealed.register([inside, outside, fresh])
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    for (const node of [inside, outside]) await ok(sealed.nodeCli(node, 'apply'))
    assert.match(valuesOf(outside), /role_value=role web,/)

    // Release 2 changes the code and the web role's sealed data.
    await sealed.world.commitToControl('production', (dir) => {
      const data = path.join(dir, 'data', 'role', 'web.yaml')
      writeFileSync(data, readFileSync(data, 'utf8').replace(/role_value: .*/, 'role_value: role web v2'))
      const site = path.join(dir, 'manifests', 'site.pp')
      writeFileSync(site, `# release 2\n${readFileSync(site, 'utf8')}`)
    })
    await ok(sealed.world.cli('build', '-e', 'production'))
    const version = builtVersion()
    const taken: string[] = []
    for (const [node, cohort] of [
      [inside, true],
      [outside, false],
      [fresh, false],
    ] as const) {
      const id = idFor(version, cohort, taken)
      taken.push(id)
      node.settings.agent = {...node.settings.agent, rollout_id: id}
      sealed.writeNodeSettings(node)
    }
    const pushed = JSON.parse((await ok(sealed.world.cli('push', '--rollout', '50', '--json'))).stdout)
    assert.equal(pushed[0].rollout, 50)
  })
  after(() => sealed?.cleanup())

  it('a node in the cohort installs release 2 with its new sealed data', async () => {
    await ok(sealed.nodeCli(inside, 'apply'))
    assert.match(valuesOf(inside), /role_value=role web v2,/)
  })

  it('a node outside keeps release 1 and its sealed data, and says why', async () => {
    const before = readlinkSync(path.join(outside.puppetcode, 'production'))
    const applied = await ok(sealed.nodeCli(outside, 'apply'))
    assert.match(applied.stderr, /rolls out to 50 % of nodes and this node is not among them yet; keeping serial 1/)
    assert.equal(readlinkSync(path.join(outside.puppetcode, 'production')), before)
    assert.match(valuesOf(outside), /role_value=role web,/)
  })

  it("an empty node outside installs the previous release with that release's sealed data", async () => {
    await ok(sealed.nodeCli(fresh, 'apply'))
    assert.match(valuesOf(fresh), /role_value=role web,/)
    const site = path.join(fresh.puppetcode, 'production', 'manifests', 'site.pp')
    assert.doesNotMatch(readFileSync(site, 'utf8'), /release 2/)
  })

  it('widened to 100 %, the nodes outside move to release 2 and its data', async () => {
    await ok(sealed.world.cli('push', '--refresh', '--rollout', '100'))
    for (const node of [outside, fresh]) {
      await ok(sealed.nodeCli(node, 'apply'))
      assert.match(valuesOf(node), /role_value=role web v2,/)
    }
  })
})
