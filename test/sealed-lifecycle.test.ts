import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {parse as load, stringify} from 'yaml'
import * as openpgp from 'openpgp'

import {memberTag} from '../src/sealed/format.js'
import {show} from './helpers/cli.js'
import {type SealedNode, SealedWorld} from './helpers/sealed-world.js'

async function ok(result: Promise<{code: number; stdout: string; stderr: string}>) {
  const done = await result
  assert.equal(done.code, 0, show(done))
  return done
}

async function refused(result: Promise<{code: number; stdout: string; stderr: string}>, message: RegExp) {
  const done = await result
  assert.equal(done.code, 25, show(done))
  assert.match(done.stderr, message)
  return done
}

function manifestBody(sealed: SealedWorld) {
  const pointer = JSON.parse(readFileSync(sealed.world.storePath('production', 'latest.json'), 'utf8'))
  return JSON.parse(Buffer.from(pointer.payload, 'base64').toString('utf8'))
}

function indexEntries(sealed: SealedWorld): Record<string, {key: string}> {
  const key = manifestBody(sealed).sealed.index.key as string
  const envelope = JSON.parse(readFileSync(path.join(sealed.world.store, key), 'utf8'))
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')).entries
}

async function fingerprint(node: SealedNode): Promise<string> {
  const key = await openpgp.readPrivateKey({
    armoredKey: readFileSync(node.settings.agent.node_key_file as string, 'utf8'),
  })
  return key.getFingerprint().toUpperCase()
}

describe('sealed hiera: stable builds, fail-closed nodes, revocation and exposure', () => {
  let sealed: SealedWorld
  let a: SealedNode
  let d: SealedNode
  let f: SealedNode
  let registry: Record<string, string>
  before(async () => {
    sealed = await SealedWorld.create()
    a = sealed.addNode('a.example', {role: 'web'})
    d = sealed.addNode('d.example', {role: 'web'})
    f = sealed.addNode('f.example', {role: 'web'})
    registry = await sealed.register([a, d])
    // f makes a key but is never registered.
    await ok(sealed.nodeCli(f, 'node', 'init', '--certname', 'f.example', '--fact', 'role'))
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
  })
  after(() => sealed?.cleanup())

  it('two builds with the MAC key give identical artifact and index bytes; the second push publishes nothing', async () => {
    const before = sealed
      .storeObjects()
      .map((object) => object.key)
      .sort()
    const first = manifestBody(sealed)
    const built = JSON.parse((await ok(sealed.world.cli('build', '-e', 'production', '--json'))).stdout)
    assert.equal(built[0].unchanged, true)
    const pushed = JSON.parse((await ok(sealed.world.cli('push', '--json'))).stdout)
    assert.equal(pushed[0].status, 'already-live')
    assert.deepEqual(
      sealed
        .storeObjects()
        .map((object) => object.key)
        .sort(),
      before,
    )
    assert.deepEqual(manifestBody(sealed).sealed, first.sealed)
    assert.equal(manifestBody(sealed).version, first.version)
  })

  it('an unregistered node gets no data: exit 25, nothing activated, Puppet not run', async () => {
    await refused(sealed.nodeCli(f, 'apply'), /has no entry in the sealed index/)
    assert.ok(!existsSync(path.join(f.puppetcode, 'production')))
    assert.ok(!existsSync(path.join(sealed.world.target, 'sealed-f.example.txt')))
  })

  it('a node whose key is missing is refused with exit 25', async () => {
    const g = sealed.addNode('g.example', {role: 'web'})
    await refused(sealed.nodeCli(g, 'apply'), /the node key .* is missing/)
    assert.ok(!existsSync(path.join(g.puppetcode, 'production')))
  })

  it('a corrupt bundle in the store is refused with exit 25', async () => {
    const entry = indexEntries(sealed)[memberTag(await fingerprint(d), 'production')]
    const file = path.join(sealed.world.store, entry.key)
    const original = readFileSync(file)
    const corrupt = Buffer.from(original)
    corrupt[corrupt.length - 5] ^= 0xff
    writeFileSync(file, corrupt)
    try {
      await refused(sealed.nodeCli(d, 'apply'), /does not have the size and SHA-256 that were signed/)
    } finally {
      writeFileSync(file, original)
    }

    assert.ok(!existsSync(path.join(d.puppetcode, 'production')))
  })

  it('a sealed_dir on a disk is refused unless agent.sealed_dir_on_disk says so', async () => {
    const saved = d.settings.agent.sealed_dir
    d.settings.agent.sealed_dir = path.join(d.dir, 'sealed-on-disk')
    sealed.writeNodeSettings(d)
    try {
      await refused(sealed.nodeCli(d, 'apply'), /is not on a memory filesystem/)
    } finally {
      d.settings.agent.sealed_dir = saved
      sealed.writeNodeSettings(d)
    }
  })

  it('facts that drifted from the registry stop the run and keep the previous release; warn relaxes it', async () => {
    await ok(sealed.nodeCli(a, 'apply'))
    const release = readlinkSync(path.join(a.puppetcode, 'production'))
    await sealed.world.commitToControl('production', (dir) => {
      const file = path.join(dir, 'data', 'role', 'web.yaml')
      writeFileSync(file, readFileSync(file, 'utf8').replace('role web', 'role web v2'))
      // A public change too, so that there is a new release to keep out.
      writeFileSync(
        path.join(dir, 'manifests', 'site.pp'),
        `# v2\n${readFileSync(path.join(dir, 'manifests', 'site.pp'), 'utf8')}`,
      )
    })
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    a.env = {FACTER_role: 'db'}
    await refused(sealed.nodeCli(a, 'apply'), /the live facts role differ from those registered/)
    assert.equal(readlinkSync(path.join(a.puppetcode, 'production')), release)
    assert.match(sealed.world.targetFile('sealed-a.example.txt'), /role_value=role web,/)
    a.settings.agent.hieracrypt_fact_drift = 'warn'
    sealed.writeNodeSettings(a)
    const relaxed = await ok(sealed.nodeCli(a, 'apply'))
    assert.match(relaxed.stderr, /the live facts role differ/)
    assert.notEqual(readlinkSync(path.join(a.puppetcode, 'production')), release)
    // What the check is for: with role=db live, Hiera finds no role/db.yaml on this node and falls back silently.
    assert.match(sealed.world.targetFile('sealed-a.example.txt'), /role_value=none,/)
    a.env = {FACTER_role: 'web'}
    await ok(sealed.nodeCli(a, 'apply'))
    assert.match(sealed.world.targetFile('sealed-a.example.txt'), /role_value=role web v2,/)
  })

  it('a node enrolled only by its group key reads what the group reads, never a per-certname file', async () => {
    const made = await ok(
      sealed.world.cli('keys', 'generate', '--name', 'group-web', '--dir', path.join(sealed.world.dir, 'groupkeys')),
    )
    assert.match(made.stdout, /fingerprint/)
    const groupKey = path.join(sealed.world.dir, 'groupkeys', 'group-web.secret.asc')
    const publicKey = readFileSync(path.join(sealed.world.dir, 'groupkeys', 'group-web.public.asc'), 'utf8')
    await sealed.world.commitToControl('production', (dir) => {
      mkdirSync(path.join(dir, 'hieracrypt', 'groups'), {recursive: true})
      writeFileSync(
        path.join(dir, 'hieracrypt', 'groups', 'web.yaml'),
        stringify({facts: {role: 'web'}, key: publicKey}),
      )
    })
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    const h = sealed.addNode('h.example', {role: 'web'}, {group_keys: [groupKey]})
    await ok(sealed.nodeCli(h, 'apply'))
    const current = path.join(h.sealedDir, 'production', 'current', 'data')
    assert.deepEqual(readdirSync(current).sort(), ['common.yaml', 'role'])
    assert.deepEqual(readdirSync(path.join(current, 'role')), ['web.yaml'])
    assert.match(sealed.world.targetFile('sealed-h.example.txt'), /node_value=none,role_value=role web v2,/)
  })

  it('revoking A: the next index has no entry for A, and `exposure A` lists exactly its former files', async () => {
    const entry = load(registry['a.example']) as Record<string, unknown>
    await sealed.commitRegistry({'a.example': stringify({...entry, revoked: true})})
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    const tag = memberTag(await fingerprint(a), 'production')
    assert.equal(indexEntries(sealed)[tag], undefined)
    assert.ok(indexEntries(sealed)[memberTag(await fingerprint(d), 'production')])
    const exposure = JSON.parse((await ok(sealed.world.cli('hieracrypt', 'exposure', 'a.example', '--json'))).stdout)
    assert.deepEqual(exposure.files, [
      'production: data/common.yaml',
      'production: data/nodes/a.example.yaml',
      'production: data/role/web.yaml',
    ])
    assert.deepEqual(exposure.unknown, [])
    await refused(sealed.nodeCli(a, 'apply'), /has no entry in the sealed index/)
  })

  it('diff shows which reader gains which protected file, and "changed (sealed)" without the content', async () => {
    await sealed.world.commitToControl('production', (dir) => {
      const hiera = path.join(dir, 'hiera.yaml')
      writeFileSync(hiera, `${readFileSync(hiera, 'utf8')}  - name: leak\n    path: role/db.yaml\n`)
      const common = path.join(dir, 'data', 'common.yaml')
      writeFileSync(common, readFileSync(common, 'utf8').replace(sealed.canaries['data/common.yaml'], 'CANARY-rotated'))
    })
    await ok(sealed.world.cli('build', '-e', 'production'))
    const json = await ok(sealed.world.cli('diff', '--json'))
    const [result] = JSON.parse(json.stdout)
    assert.deepEqual(result.sealed.readers, [
      {added: ['data/role/db.yaml'], reader: 'group web', removed: []},
      {added: ['data/role/db.yaml'], reader: 'node d.example', removed: []},
    ])
    assert.deepEqual(result.sealed.changed, ['data/common.yaml'])
    const text = await ok(sealed.world.cli('diff'))
    assert.match(text.stdout, /node d\.example:\n +\+ data\/role\/db\.yaml/)
    assert.match(text.stdout, /M data\/common\.yaml changed \(sealed\)/)
    for (const output of [json.stdout, json.stderr, text.stdout, text.stderr]) {
      for (const canary of [...Object.values(sealed.canaries), 'CANARY-rotated']) assert.ok(!output.includes(canary))
    }
  })
})
