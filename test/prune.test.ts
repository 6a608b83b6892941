import assert from 'node:assert/strict'
import {copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'

import type {Store} from '../src/contracts.js'
import {pruneStore} from '../src/publish/prune.js'
import {FileStore} from '../src/store/file-store.js'

import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

const serialFile = (serial: number) => `${String(serial).padStart(12, '0')}.json`

describe('prune removes old manifests and artifacts, and nothing else', () => {
  let world: World
  const versions: string[] = []
  const ruby = [
    'manifest.latest.yaml',
    'artifact.20150101-0000.tar.gz',
    'ABCDEF0123456789.publickey',
    'pupistry/production/notes.txt',
  ]
  const orphanYoung = 'a'.repeat(64)
  const orphanOld = 'b'.repeat(64)

  before(async () => {
    world = await World.create()
    const publish = async (...extra: string[]) => {
      for (const step of [
        ['build', '-e', 'production'],
        ['push', '-e', 'production', ...extra],
      ]) {
        const result = await world.cli(...step)
        assert.equal(result.code, 0, show(result))
      }

      for (const name of readdirSync(world.storePath('production', 'artifacts')))
        if (!versions.includes(name.slice(0, 64))) versions.push(name.slice(0, 64))
    }

    await publish()
    for (const round of [1, 2]) {
      await world.commitToControl('production', (dir) =>
        writeFileSync(path.join(dir, 'manifests', `round${round}.pp`), `# ${round}\n`),
      )
      await publish()
    }

    // Serials 4 and 5 re-sign what is live: five manifests, three artifacts.
    await publish('--refresh')
    await publish('--refresh')

    // The Ruby tool's objects, and things in our tree that are not of our layout.
    for (const name of ruby) writeFileSync(path.join(world.store, name), 'not pupistry 3\n')
    // An artifact no manifest names, long forgotten; the pushed ones are as old.
    writeFileSync(world.storePath('production', 'artifacts', `${orphanOld}.tar.gz`), 'orphan')
    const longAgo = new Date(Date.now() - 7 * 86_400_000)
    for (const name of readdirSync(world.storePath('production', 'artifacts')))
      utimesSync(world.storePath('production', 'artifacts', name), longAgo, longAgo)
    // One just uploaded by a push in progress.
    writeFileSync(world.storePath('production', 'artifacts', `${orphanYoung}.tar.gz`), 'orphan')
    const apply = await world.cli('apply')
    assert.equal(apply.code, 0, show(apply))
  })

  after(() => world?.cleanup())

  it('--dry-run lists what would go and removes nothing', async () => {
    // --keep 2 means two releases to go back to besides the live one (serial 5): 3 and 4.
    const result = await world.cli('prune', '--keep', '2', '--dry-run')
    assert.equal(result.code, 0, show(result))
    for (const serial of [1, 2])
      assert.match(result.stdout, new RegExp(`would remove pupistry/production/manifests/${serialFile(serial)}`))
    for (const serial of [3, 4, 5]) assert.doesNotMatch(result.stdout, new RegExp(serialFile(serial)))
    assert.match(result.stdout, new RegExp(`would remove pupistry/production/artifacts/${orphanOld}`))
    for (const version of versions.slice(0, 2))
      assert.match(result.stdout, new RegExp(`would remove pupistry/production/artifacts/${version}`))
    assert.doesNotMatch(result.stdout, new RegExp(orphanYoung))
    assert.match(result.stdout, /production: live serial 5; kept 3 manifest\(s\) \(serials 3–5\)/)
    assert.equal(readdirSync(world.storePath('production', 'manifests')).length, 5)
  })

  it('keeps the live manifest, anything newer and the N before it with their artifacts; the Ruby objects stay', async () => {
    // A push in progress has written serial 7 but not yet moved the pointer.
    copyFileSync(
      world.storePath('production', 'manifests', serialFile(5)),
      world.storePath('production', 'manifests', serialFile(7)),
    )
    const result = await world.cli('prune', '--keep', '1', '--json')
    assert.equal(result.code, 0, show(result))
    const [report] = JSON.parse(result.stdout) as Array<{
      environment: string
      keptManifests: number[]
      live: number
      deleted: Array<{key: string}>
    }>
    assert.equal(report.live, 5)
    assert.deepEqual(report.keptManifests, [4, 5, 7])
    assert.deepEqual(
      readdirSync(world.storePath('production', 'manifests')).sort(),
      [4, 5, 7].map((serial) => serialFile(serial)),
    )

    const live = readdirSync(world.storePath('production', 'artifacts')).sort()
    assert.equal(live.length, 2, live.join(' '))
    assert.ok(live.includes(`${orphanYoung}.tar.gz`))
    assert.ok(live.includes(`${versions[2]}.tar.gz`), 'the live artifact stays')
    for (const name of ruby) assert.ok(existsSync(path.join(world.store, name)), `${name} must stay`)
    assert.ok(existsSync(world.storePath('production', 'latest.json')))
  })

  it('after pruning, nodes still apply and the next push takes the next serial', async () => {
    const apply = await world.cli('apply', '--force')
    assert.equal(apply.code, 0, show(apply))
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', 'after.pp'), '# after\n'),
    )
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '-e', 'production'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    assert.ok(existsSync(world.storePath('production', 'manifests', serialFile(8))))
  })

  it('an environment without a pointer is left alone, with a warning', async () => {
    mkdirSync(world.storePath('staging', 'manifests'), {recursive: true})
    writeFileSync(world.storePath('staging', 'manifests', serialFile(1)), '{}')
    const result = await world.cli('prune', '-e', 'staging')
    assert.equal(result.code, 0, show(result))
    assert.match(result.stderr, /staging: no pointer at .*; nothing pruned there/)
    assert.ok(existsSync(world.storePath('staging', 'manifests', serialFile(1))))
  })

  it('a bad --grace is a usage error', async () => {
    const result = await world.cli('prune', '--grace', 'soon')
    assert.equal(result.code, 2, show(result))
    assert.match(result.stderr, /Parsing --grace \n.*not a duration: soon/)
  })

  it('an old artifact that a push republishes while prune runs is kept', async () => {
    const manifests = world.storePath('production', 'manifests')
    const serials = readdirSync(manifests)
      .map((name) => Number(name.slice(0, 12)))
      .sort((a, b) => a - b)
    const oldest = readFileSync(path.join(manifests, serialFile(serials[0])), 'utf8')
    const envelope = JSON.parse(oldest) as {payload: string}
    const manifest = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
      serial: number
      artifact: {key: string}
    }
    const republished = serials.at(-1)! + 1
    const store = new FileStore(pathToFileURL(world.store))
    let published = false
    // The push lands between prune's first look and its deleting of artifacts.
    const racing: Store = Object.assign(Object.create(store) as Store, {
      async delete(key: string) {
        await store.delete(key)
        if (published) return
        published = true
        const bytes = JSON.stringify({
          ...envelope,
          payload: Buffer.from(JSON.stringify({...manifest, serial: republished})).toString('base64'),
        })
        await store.put(`pupistry/production/manifests/${serialFile(republished)}`, Buffer.from(bytes), {
          createOnly: true,
        })
        await store.put('pupistry/production/latest.json', Buffer.from(bytes))
      },
    })
    const warnings: string[] = []
    const [result] = await pruneStore({log: {warn: (line: string) => warnings.push(line)} as never}, racing, {
      dryRun: false,
      environments: ['production'],
      graceSeconds: 0,
      keep: 1,
    })
    assert.ok(published, 'the race was staged')
    assert.ok(
      existsSync(path.join(world.store, manifest.artifact.key)),
      `${manifest.artifact.key} must stay: ${JSON.stringify(result)}`,
    )
    assert.deepEqual(warnings, [])
  })
})
