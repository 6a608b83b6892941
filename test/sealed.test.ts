import assert from 'node:assert/strict'
import {readdirSync, readFileSync, readlinkSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import * as openpgp from 'openpgp'

import {execute, run, show} from './helpers/cli.js'
import {LOOKUP_KEYS, NODES, type SealedNode, SealedWorld} from './helpers/sealed-world.js'

async function ok(result: Promise<{code: number; stdout: string; stderr: string}>) {
  const done = await result
  assert.equal(done.code, 0, show(done))
  return done
}

/** Files (relative to the sealed dir's current generation) and their modes. */
function materialisedFiles(node: SealedNode): Record<string, number> {
  const root = path.join(node.sealedDir, 'production', 'current')
  const files: Record<string, number> = {}
  const walk = (relative: string) => {
    for (const name of readdirSync(path.join(root, relative))) {
      const rel = relative ? `${relative}/${name}` : name
      const info = statSync(path.join(root, rel))
      if (info.isDirectory()) {
        assert.equal(info.mode & 0o777, 0o700, `${rel} is 0700`)
        walk(rel)
      } else files[rel] = info.mode & 0o777
    }
  }

  walk('')
  return files
}

describe('sealed hiera: build, push, and nodes that read only their own data', () => {
  let sealed: SealedWorld
  let a: SealedNode
  let b: SealedNode
  let d: SealedNode
  let e: SealedNode
  const outputs: string[] = []
  const record = (result: {stdout: string; stderr: string}) => {
    outputs.push(result.stdout, result.stderr)
    return result
  }

  before(async () => {
    sealed = await SealedWorld.create()
    a = sealed.addNode('a.example', {role: 'web'})
    b = sealed.addNode('b.example', {role: 'db'})
    d = sealed.addNode('d.example', {role: 'web'})
    e = sealed.addNode('e.example', {role: 'web'})
    await sealed.register([a, b, d, e])
  })
  after(() => sealed?.cleanup())

  it('hieracrypt plan: A reads its node file, role/web and common; D and E share a bundle', async () => {
    const result = record(await ok(sealed.world.cli('hieracrypt', 'plan', '-e', 'production', '--json')))
    const [plan] = JSON.parse(result.stdout)
    const files = Object.fromEntries(
      plan.members.map((member: {name: string; files: string[]}) => [member.name, member.files]),
    )
    assert.deepEqual(files['a.example'], ['data/common.yaml', 'data/nodes/a.example.yaml', 'data/role/web.yaml'])
    assert.deepEqual(files['b.example'], ['data/common.yaml', 'data/nodes/b.example.yaml', 'data/role/db.yaml'])
    assert.deepEqual(files['d.example'], ['data/common.yaml', 'data/role/web.yaml'])
    const shared = plan.bundles.find((bundle: {members: string[]}) => bundle.members.length === 2)
    assert.deepEqual(shared.members, ['node d.example', 'node e.example'])
  })

  it('build and push publish format 2 with no canary and no node name anywhere in the store', async () => {
    record(await ok(sealed.world.cli('build', '-e', 'production', '--verbose')))
    record(await ok(sealed.world.cli('build', '-e', 'production', '--json')))
    record(await ok(sealed.world.cli('push', '--verbose')))
    const objects = sealed.storeObjects()
    assert.ok(objects.some((object) => object.key.includes('/sealed/bundles/')))
    for (const {key, bytes} of objects) {
      for (const canary of [...Object.values(sealed.canaries), 'a.example', 'b.example', 'd.example']) {
        assert.ok(!key.includes(canary), `${canary} in the name ${key}`)
        assert.ok(!bytes.includes(canary), `${canary} in ${key}`)
      }
    }

    const manifest = JSON.parse(readFileSync(sealed.world.storePath('production', 'latest.json'), 'utf8'))
    assert.match(manifest.payloadType, /version=2$/)
    const body = JSON.parse(Buffer.from(manifest.payload, 'base64').toString('utf8'))
    assert.match(body.sealed.index.key, /^pupistry\/production\/sealed\/index\/[0-9a-f]{64}\.json$/)
  })

  it("A's key decrypts only A's bundle; every other bundle refuses it", async () => {
    const bundles = sealed.storeObjects().filter((object) => object.key.includes('/sealed/bundles/'))
    assert.equal(bundles.length, 3)
    const decryptionKeys = await openpgp.readPrivateKey({
      armoredKey: readFileSync(a.settings.agent.node_key_file as string, 'utf8'),
    })
    let opened = 0
    for (const bundle of bundles) {
      const message = await openpgp.readMessage({binaryMessage: bundle.bytes})
      try {
        await openpgp.decrypt({decryptionKeys, format: 'binary', message})
        opened++
      } catch {
        // Not A's: refused, as it must be.
      }
    }

    assert.equal(opened, 1)
  })

  it('two nodes end up with only their own files, 0600 in 0700 directories, and Puppet sees their values', async () => {
    for (const node of [a, b]) record(await ok(sealed.nodeCli(node, 'apply', '--verbose')))
    assert.deepEqual(materialisedFiles(a), {
      'data/common.yaml': 0o600,
      'data/nodes/a.example.yaml': 0o600,
      'data/role/web.yaml': 0o600,
    })
    assert.deepEqual(materialisedFiles(b), {
      'data/common.yaml': 0o600,
      'data/nodes/b.example.yaml': 0o600,
      'data/role/db.yaml': 0o600,
    })
    assert.equal(
      sealed.world.targetFile('sealed-a.example.txt'),
      'node_value=node a,role_value=role web,common_value=web overrides\n',
    )
    assert.equal(
      sealed.world.targetFile('sealed-b.example.txt'),
      'node_value=node b,role_value=role db,common_value=common\n',
    )
    const release = readlinkSync(path.join(a.puppetcode, 'production'))
    assert.equal(
      readlinkSync(path.join(release, 'data', 'role', 'web.yaml')),
      path.join(a.sealedDir, 'production', 'current', 'data', 'role', 'web.yaml'),
    )
  })

  it('a reboot (sealed_dir emptied) materialises again from the cache, without reading the store', async () => {
    rmSync(path.join(a.sealedDir, 'production'), {force: true, recursive: true})
    const moved = `${sealed.world.store}.away`
    const fs = await import('node:fs')
    // Only the pointer stays reachable: the conditional check reads it, the sealed objects must come from the cache.
    fs.renameSync(sealed.world.store, moved)
    fs.mkdirSync(path.dirname(sealed.world.storePath('production', 'latest.json')), {recursive: true})
    fs.copyFileSync(
      path.join(moved, 'pupistry', 'production', 'latest.json'),
      sealed.world.storePath('production', 'latest.json'),
    )
    try {
      record(await ok(sealed.nodeCli(a, 'apply')))
    } finally {
      rmSync(sealed.world.store, {force: true, recursive: true})
      fs.renameSync(moved, sealed.world.store)
    }

    assert.deepEqual(Object.keys(materialisedFiles(a)).sort(), [
      'data/common.yaml',
      'data/nodes/a.example.yaml',
      'data/role/web.yaml',
    ])
  })

  it('no command output holds a canary (--verbose, --json, plan, build, push, apply)', () => {
    for (const text of outputs) {
      for (const canary of Object.values(sealed.canaries)) assert.ok(!text.includes(canary), `${canary} in output`)
    }
  })
})

describe('sealed hiera: equivalence with the full plaintext tree in real Puppet', () => {
  let sealed: SealedWorld
  const nodes: SealedNode[] = []
  before(async () => {
    sealed = await SealedWorld.create()
    for (const [name, facts] of Object.entries(NODES)) nodes.push(sealed.addNode(name, facts))
    await sealed.register(nodes)
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    for (const node of nodes) await ok(sealed.nodeCli(node, 'apply', '--minimal'))
  })
  after(() => sealed?.cleanup())

  /** Every key looked up by Puppet as the node, in an environment path: `key=value` lines. */
  async function lookups(node: SealedNode, environmentpath: string): Promise<string[]> {
    const code = LOOKUP_KEYS.map((key) => `notice("LOOKUP ${key}=\${lookup('${key}', Data, 'first', 'absent')}")`).join(
      '\n',
    )
    const result = await execute(
      'puppet',
      [
        'apply',
        '--color',
        'false',
        '--environmentpath',
        environmentpath,
        '--environment',
        'production',
        '--certname',
        node.name,
        '-e',
        code,
      ],
      {env: node.env},
    )
    assert.ok(result.code === 0 || result.code === 2, show(result))
    return [...result.stdout.matchAll(/LOOKUP (\S+=.*)$/gm)].map((match) => match[1]).sort()
  }

  it('for each node, lookup() of every key gives the same values sealed as from the plaintext tree', async () => {
    const plain = path.join(sealed.world.dir, 'plain')
    await run('git', [
      'clone',
      '-q',
      '--branch',
      'production',
      path.join(sealed.world.repos, 'control.git'),
      path.join(plain, 'production'),
    ])
    for (const node of nodes) {
      const expected = await lookups(node, plain)
      assert.equal(expected.length, LOOKUP_KEYS.length)
      assert.ok(expected.some((line) => line.startsWith('canary_common=CANARY-')))
      assert.deepEqual(await lookups(node, node.puppetcode), expected, node.name)
    }
  })
})
