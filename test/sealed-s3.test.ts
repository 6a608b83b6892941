import assert from 'node:assert/strict'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type CliResult, show} from './helpers/cli.js'
import {type LocalS3, startS3} from './helpers/s3.js'
import {type SealedNode, SealedWorld} from './helpers/sealed-world.js'

const credentials = {access_key_id: 'S3RVER', region: 'us-east-1', secret_access_key: 'S3RVER'}

async function ok(result: Promise<CliResult>): Promise<CliResult> {
  const done = await result
  assert.equal(done.code, 0, show(done))
  return done
}

/** Keys of the bucket's objects that requests of `method` named, below the store's prefix. */
const keysOf = (s3: LocalS3, method: string, from = 0) =>
  s3.requests
    .slice(from)
    .filter((request) => request.startsWith(`${method} /sealed/site/`))
    .map((request) => decodeURIComponent(request.slice(method.length + 1).split('?')[0] as string))

/**
 * Sealed hiera through the S3 storage plugin and the AWS SDK against s3rver:
 * the index and bundles reach the bucket with no node name in any key, each
 * node reads only its own data from there, a rebuild with nothing new
 * uploads nothing, and prune deletes the sealed objects no kept manifest
 * names, dating them by the bucket's LastModified.
 */
describe('sealed hiera on S3 (s3rver on loopback)', () => {
  let s3: LocalS3
  let sealed: SealedWorld
  let a: SealedNode
  let b: SealedNode
  const valuesOf = (node: SealedNode) => sealed.world.targetFile(`sealed-${node.name}.txt`)

  before(async () => {
    s3 = await startS3(['sealed'])
    sealed = await SealedWorld.create()
    const {world} = sealed
    Object.assign(world.settings.general, {s3_endpoint: s3.endpoint, storage: 's3://sealed/site/'})
    Object.assign(world.settings.build, credentials)
    world.writeSettings()
    a = sealed.addNode('a.example', {role: 'web'})
    b = sealed.addNode('b.example', {role: 'db'})
    for (const node of [a, b]) {
      Object.assign(node.settings.general as object, {s3_endpoint: s3.endpoint})
      Object.assign(node.settings.agent as object, credentials)
      sealed.writeNodeSettings(node)
    }
    await sealed.register([a, b])
  })
  after(async () => {
    sealed?.cleanup()
    await s3?.stop()
  })

  it('build and push upload the index and bundles; each node applies with its own data only', async () => {
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    const put = keysOf(s3, 'PUT')
    assert.ok(
      put.some((key) => key.includes('/pupistry/production/sealed/index/')),
      put.join('\n'),
    )
    assert.ok(
      put.some((key) => key.includes('/pupistry/production/sealed/bundles/')),
      put.join('\n'),
    )
    assert.ok(!put.some((key) => /a\.example|b\.example/.test(key)), 'no node name in any key')

    await ok(sealed.nodeCli(a, 'apply'))
    await ok(sealed.nodeCli(b, 'apply'))
    assert.match(valuesOf(a), /node_value=node a,role_value=role web,common_value=web overrides/)
    assert.match(valuesOf(b), /node_value=node b,role_value=role db,common_value=common/)
    const data = path.join(a.sealedDir, 'production', 'current', 'data')
    assert.ok(existsSync(path.join(data, 'nodes', 'a.example.yaml')))
    assert.ok(!existsSync(path.join(data, 'nodes', 'b.example.yaml')), "A holds none of B's files")
    assert.ok(!existsSync(path.join(data, 'role', 'db.yaml')))
  })

  it('a rebuild with nothing new uploads nothing', async () => {
    await ok(sealed.world.cli('build', '-e', 'production'))
    const from = s3.requests.length
    const pushed = await ok(sealed.world.cli('push'))
    assert.match(pushed.stdout, /is already live .*nothing to push/)
    assert.deepEqual(keysOf(s3, 'PUT', from), [])
  })

  it("a change of A's role data reaches A; prune then deletes the sealed objects no kept manifest names", async () => {
    await sealed.world.commitToControl('production', (dir) => {
      const file = path.join(dir, 'data', 'role', 'web.yaml')
      writeFileSync(file, readFileSync(file, 'utf8').replace(/role_value: .*/, 'role_value: role web v2'))
    })
    await ok(sealed.world.cli('build', '-e', 'production'))
    await ok(sealed.world.cli('push'))
    await ok(sealed.nodeCli(a, 'apply'))
    assert.match(valuesOf(a), /role_value=role web v2,/)

    const pruned = JSON.parse((await ok(sealed.world.cli('prune', '--keep', '0', '--grace', '0s', '--json'))).stdout)
    const deleted: string[] = pruned[0].deleted.map((object: {key: string}) => object.key)
    const sealedGone = deleted.filter((key) => key.includes('/sealed/'))
    // The first index, and A's first bundle; B's bundle is the same in both indexes and stays.
    assert.equal(sealedGone.filter((key) => key.includes('/sealed/index/')).length, 1, deleted.join('\n'))
    assert.equal(sealedGone.filter((key) => key.includes('/sealed/bundles/')).length, 1, deleted.join('\n'))
    const removed = keysOf(s3, 'DELETE')
    for (const key of sealedGone)
      assert.ok(
        removed.some((entry) => entry.endsWith(key)),
        `${key} was deleted`,
      )

    // Both nodes still apply from the pruned bucket; B, which has nothing new, from its cache as before.
    await ok(sealed.nodeCli(a, 'apply'))
    await ok(sealed.nodeCli(b, 'apply', '--force'))
    assert.match(valuesOf(b), /node_value=node b,role_value=role db,/)
  })
})
