import assert from 'node:assert/strict'
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {show} from './helpers/cli.js'
import {type SealedNode, SealedWorld} from './helpers/sealed-world.js'

type Result = {code: number; stdout: string; stderr: string}

async function ok(result: Promise<Result>): Promise<Result> {
  const done = await result
  assert.equal(done.code, 0, show(done))
  return done
}

async function refused(result: Promise<Result>, message: RegExp): Promise<Result> {
  const done = await result
  assert.equal(done.code, 25, show(done))
  assert.match(done.stderr, message)
  return done
}

/** The body of a signed manifest or pointer in the store. */
function bodyOf(file: string) {
  const envelope = JSON.parse(readFileSync(file, 'utf8'))
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'))
}

/** Keys of the store's sealed objects of production (indexes and bundles). */
function sealedKeys(sealed: SealedWorld): string[] {
  return sealed
    .storeObjects()
    .map((object) => object.key)
    .filter((key) => key.startsWith('pupistry/production/sealed/'))
    .sort()
}

/**
 * One node (A, a web node with its own data file) through the life of a
 * sealed environment: a sealed-only change previewed with --noop, a public
 * change, a rollback, a certname that is not the registered one, a
 * promotion between channels, and prune. B, registered but idle, has data
 * that never changes: its bundle is reused by every build.
 */
describe('sealed hiera through noop, rollback, trusted drift, promote and prune', () => {
  let sealed: SealedWorld
  let a: SealedNode
  let b: SealedNode
  const roleValue = () => /role_value=([^,]*),/.exec(sealed.world.targetFile('sealed-a.example.txt'))?.[1]
  const release = () => readlinkSync(path.join(a.puppetcode, 'production'))
  const live = () => bodyOf(sealed.world.storePath('production', 'latest.json'))

  /** Changes role/web.yaml's role_value (sealed), and with `publicToo` site.pp (a new artifact version). */
  async function publish(value: string, options: {publicToo?: boolean; push?: string[]} = {}) {
    await sealed.world.commitToControl('production', (dir) => {
      const file = path.join(dir, 'data', 'role', 'web.yaml')
      writeFileSync(file, readFileSync(file, 'utf8').replace(/role_value: .*/, `role_value: ${value}`))
      if (options.publicToo) {
        const site = path.join(dir, 'manifests', 'site.pp')
        writeFileSync(site, `# ${value}\n${readFileSync(site, 'utf8')}`)
      }
    })
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push', ...(options.push ?? [])))
  }

  before(async () => {
    sealed = await SealedWorld.create()
    a = sealed.addNode('a.example', {role: 'web'})
    b = sealed.addNode('b.example', {role: 'db'})
    await sealed.register([a, b])
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    await ok(sealed.nodeCli(a, 'apply'))
    assert.equal(roleValue(), 'role web')
  })
  after(() => sealed?.cleanup())

  it('apply --noop previews a sealed-only change with the candidate sealed data, leaving the live data alone', async () => {
    await publish('role web v2')
    const versionBefore = live().version
    const result = await ok(sealed.nodeCli(a, 'apply', '--noop', '--json'))
    const json = JSON.parse(result.stdout)
    assert.equal(json.action, 'pending')
    assert.equal(json.version, versionBefore)
    assert.deepEqual(json.puppet, {changes: true, exitCode: 0, failures: false, noop: true})
    assert.match(result.stderr, /sealed-a\.example\.txt\]\/content: .*\(noop\)/)
    // Nothing live moved: the file, the materialised data, the release; no scratch left behind.
    assert.equal(roleValue(), 'role web')
    const materialised = path.join(a.sealedDir, 'production', 'current', 'data', 'role', 'web.yaml')
    assert.match(readFileSync(materialised, 'utf8'), /role_value: role web\n/)
    assert.deepEqual(readdirSync(a.sealedDir), ['production'])
    const releases = path.dirname(release())
    assert.deepEqual(
      readdirSync(releases).filter((name) => name.startsWith('.')),
      [],
    )
    assert.equal(json.sealedOnly, true)
    const noChange = await ok(sealed.nodeCli(a, 'apply', '--noop'))
    assert.match(noChange.stdout, /brings new sealed hiera data only: evaluated with --noop, not activated/)
    await ok(sealed.nodeCli(a, 'apply'))
    assert.equal(roleValue(), 'role web v2')
    const current = JSON.parse((await ok(sealed.nodeCli(a, 'apply', '--noop', '--json'))).stdout)
    assert.equal(current.action, 'current')
    assert.equal(current.puppet.changes, false)
  })

  it('apply --noop previews a new release with its own sealed data', async () => {
    await publish('role web v3', {publicToo: true})
    const result = await ok(sealed.nodeCli(a, 'apply', '--noop', '--json'))
    assert.equal(JSON.parse(result.stdout).action, 'pending')
    assert.equal(JSON.parse(result.stdout).sealedOnly, undefined)
    assert.match(result.stderr, /sealed-a\.example\.txt\]\/content: .*\(noop\)/)
    assert.equal(roleValue(), 'role web v2')
    await ok(sealed.nodeCli(a, 'apply'))
    assert.equal(roleValue(), 'role web v3')
  })

  it('rollback links the sealed data of the release it activates, from the store when the cache lost it', async () => {
    const newest = release()
    const cache = path.join(a.dir, 'cache', 'agent', 'sealed', 'production')
    for (const name of readdirSync(cache)) {
      if (/^[0-9a-f]{64}\./.test(name)) rmSync(path.join(cache, name))
    }

    // The earlier release's index is neither cached nor in the store: refused, the newest release stays.
    const older = bodyOf(sealed.world.storePath('production', 'manifests', `${'2'.padStart(12, '0')}.json`))
    const indexFile = path.join(sealed.world.store, older.sealed.index.key)
    renameSync(indexFile, `${indexFile}.away`)
    try {
      await refused(sealed.nodeCli(a, 'rollback'), /sealed index of production .* is missing|missing from/)
    } finally {
      renameSync(`${indexFile}.away`, indexFile)
    }

    assert.equal(release(), newest)
    assert.equal(roleValue(), 'role web v3')
    await ok(sealed.nodeCli(a, 'rollback'))
    assert.notEqual(release(), newest)
    // The data of serial 2 (the sealed-only change of the earlier release), not the newest (v3).
    assert.equal(roleValue(), 'role web v2')
  })

  it('a certname Puppet would use that is not the registered one is trusted-data drift: refused', async () => {
    const wrapper = a.settings.agent.puppet as string
    const original = readFileSync(wrapper, 'utf8')
    writeFileSync(wrapper, original.replace('--certname a.example', '--certname impostor.example'))
    try {
      await refused(sealed.nodeCli(a, 'apply', '--unpin'), /the live facts trusted\.certname differ/)
      assert.equal(roleValue(), 'role web v2')
    } finally {
      writeFileSync(wrapper, original)
    }

    await ok(sealed.nodeCli(a, 'apply', '--unpin'))
    assert.equal(roleValue(), 'role web v3')
  })

  it('promote between channels of one environment carries the sealed data; across environments it is refused', async () => {
    await publish('role web v4', {publicToo: true, push: ['--channel', 'canary']})
    await ok(sealed.nodeCli(a, 'apply'))
    assert.equal(roleValue(), 'role web v3', 'a follows stable')
    await ok(sealed.world.cli('promote', '-e', 'production', '--from', 'canary', '--to', 'stable'))
    const canary = bodyOf(sealed.world.storePath('production', 'channels', 'canary.json'))
    assert.deepEqual(live().sealed, canary.sealed)
    await ok(sealed.nodeCli(a, 'apply'))
    assert.equal(roleValue(), 'role web v4')

    const across = await refused(
      sealed.world.cli('promote', '--from-env', 'production', '--to-env', 'staging'),
      /has sealed hiera data, which is bound to production: it cannot be promoted to staging/,
    )
    assert.match(across.stderr, /hint: build and push staging/)
    assert.ok(!existsSync(path.join(sealed.world.store, 'pupistry', 'staging')))
  })

  it('prune removes the sealed data no kept manifest names, and keeps a bundle the live index reuses', async () => {
    const index = live().sealed.index.key as string
    const liveIndex = bodyOf(path.join(sealed.world.store, index))
    const liveBundles = Object.values(liveIndex.entries as Record<string, {key: string}>).map((entry) => entry.key)
    const before = sealedKeys(sealed)
    // B's data never changed: its bundle is the one uploaded by the first push.
    const firstIndex = bodyOf(
      path.join(
        sealed.world.store,
        bodyOf(sealed.world.storePath('production', 'manifests', `${'1'.padStart(12, '0')}.json`)).sealed.index.key,
      ),
    )
    const firstBundles = Object.values(firstIndex.entries as Record<string, {key: string}>).map((entry) => entry.key)
    const reused = liveBundles.filter((key) => firstBundles.includes(key))
    assert.equal(reused.length, 1, 'B reads the same bundle in the first and the live index')

    const dry = JSON.parse(
      (await ok(sealed.world.cli('prune', '--keep', '0', '--grace', '0s', '--dry-run', '--json'))).stdout,
    )
    const doomed = dry[0].deleted
      .map((object: {key: string}) => object.key)
      .filter((key: string) => key.includes('/sealed/'))
    const kept = [index, ...liveBundles].sort()
    assert.deepEqual(
      doomed.sort(),
      before.filter((key) => !kept.includes(key)),
    )
    assert.ok(doomed.some((key: string) => key.includes('/sealed/index/')))
    assert.ok(doomed.some((key: string) => key.includes('/sealed/bundles/')))
    assert.deepEqual(sealedKeys(sealed), before, '--dry-run removes nothing')

    // A push uploading right now: its index is young and names old bundles (the first build's), which stay.
    const longAgo = new Date(Date.now() - 7 * 86_400_000)
    for (const key of before) utimesSync(path.join(sealed.world.store, key), longAgo, longAgo)
    const firstKey = bodyOf(sealed.world.storePath('production', 'manifests', `${'1'.padStart(12, '0')}.json`)).sealed
      .index.key as string
    const young = path.join(sealed.world.store, 'pupistry', 'production', 'sealed', 'index', `${'f'.repeat(64)}.json`)
    copyFileSync(path.join(sealed.world.store, firstKey), young)
    try {
      const graced = JSON.parse((await ok(sealed.world.cli('prune', '--keep', '0', '--dry-run', '--json'))).stdout)
      const going = graced[0].deleted.map((object: {key: string}) => object.key)
      assert.ok(going.includes(firstKey), 'the old index goes')
      for (const key of [...firstBundles, path.relative(sealed.world.store, young)])
        assert.ok(!going.includes(key), `${key} stays`)
    } finally {
      rmSync(young)
    }

    const text = await ok(sealed.world.cli('prune', '--keep', '0', '--grace', '0s'))
    assert.match(text.stdout, /and 3 sealed object\(s\); removed/)
    assert.deepEqual(sealedKeys(sealed), kept)
    // B installs from the pruned store: its reused bundle is there.
    await ok(sealed.nodeCli(b, 'apply'))
    assert.match(sealed.world.targetFile('sealed-b.example.txt'), /node_value=node b,role_value=role db,/)
  })
})
