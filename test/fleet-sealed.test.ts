import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {type CliResult, show} from './helpers/cli.js'
import {type SealedNode, SealedWorld} from './helpers/sealed-world.js'

interface FleetJson {
  nodes: {node: string; flags: string[]; signer?: string; serial?: number; problem?: string}[]
}

async function ok(result: Promise<CliResult>): Promise<CliResult> {
  const done = await result
  assert.equal(done.code, 0, show(done))
  return done
}

/**
 * One key per node: a node with a sealed-hiera node key signs its reports
 * with it, and `fleet` verifies them against the keys registered in
 * hieracrypt/nodes/ (and hieracrypt/groups/ for a node enrolled through a
 * group), as the last build read them; no general.report_keys needed.
 */
describe('fleet reports signed with sealed-hiera node keys', () => {
  let sealed: SealedWorld
  let a: SealedNode
  let b: SealedNode
  let h: SealedNode
  let registry: Record<string, string>
  const reportFile = (id: string) => sealed.world.storePath('reports', id, 'production.json')
  const fleet = async (): Promise<FleetJson> =>
    JSON.parse((await ok(sealed.world.cli('fleet', '--json', '-e', 'production'))).stdout)

  before(async () => {
    sealed = await SealedWorld.create()
    a = sealed.addNode('a.example', {role: 'web'})
    b = sealed.addNode('b.example', {role: 'db'})
    registry = await sealed.register([a, b])
    const keys = path.join(sealed.world.dir, 'groupkeys')
    await ok(sealed.world.cli('keys', 'generate', '--name', 'group-web', '--dir', keys))
    await sealed.world.commitToControl('production', (dir) => {
      mkdirSync(path.join(dir, 'hieracrypt', 'groups'), {recursive: true})
      const key = readFileSync(path.join(keys, 'group-web.public.asc'), 'utf8')
      writeFileSync(path.join(dir, 'hieracrypt', 'groups', 'web.yaml'), stringify({facts: {role: 'web'}, key}))
    })
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    h = sealed.addNode('h.example', {role: 'web'}, {group_keys: [path.join(keys, 'group-web.secret.asc')]})
    for (const node of [a, b, h]) await ok(sealed.nodeCli(node, 'apply', '--minimal'))
  })
  after(() => sealed?.cleanup())

  it('lists each node under its certname, believed on the key it was registered with', async () => {
    const {nodes} = await fleet()
    const byNode = Object.fromEntries(nodes.map((node) => [node.node, [node.signer, node.flags]]))
    assert.deepEqual(byNode['a.example'], ['node a.example', []])
    assert.deepEqual(byNode['b.example'], ['node b.example', []])
    const report = JSON.parse(readFileSync(reportFile('a.example'), 'utf8'))
    assert.equal(JSON.parse(Buffer.from(report.payload, 'base64').toString('utf8')).certname, 'a.example')
  })

  it('a node enrolled only through its group signs with the group key', async () => {
    const {nodes} = await fleet()
    const group = nodes.filter((node) => node.signer === 'group web')
    assert.equal(group.length, 1, JSON.stringify(nodes))
    assert.deepEqual(group[0].flags, [])
  })

  it("flags node A's report placed under node B's certname as forged, and one no registered key signed", async () => {
    const saved = readFileSync(reportFile('b.example'))
    copyFileSync(reportFile('a.example'), reportFile('b.example'))
    const stranger = reportFile('z.example')
    mkdirSync(path.dirname(stranger), {recursive: true})
    const envelope = JSON.parse(readFileSync(reportFile('a.example'), 'utf8'))
    writeFileSync(
      stranger,
      JSON.stringify({...envelope, signatures: [{...envelope.signatures[0], keyid: 'AB'.repeat(20)}]}),
    )
    try {
      const {nodes} = await fleet()
      const flags = Object.fromEntries(nodes.map((node) => [node.node, node.flags]))
      assert.deepEqual(flags['b.example'], ['forged'])
      assert.deepEqual(flags['z.example'], ['unregistered'])
      assert.deepEqual(flags['a.example'], [])
    } finally {
      writeFileSync(reportFile('b.example'), saved)
    }
  })

  it("a revoked node's reports are no longer believed after the next build", async () => {
    await sealed.commitRegistry({'b.example': `${registry['b.example']}revoked: true\n`})
    await ok(sealed.world.cli('build', '-e', 'production'))
    const {nodes} = await fleet()
    assert.deepEqual(nodes.find((node) => node.node === 'b.example')?.flags, ['unregistered'])
  })
})
