import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {run, show} from './helpers/cli.js'
import {replayRubyAgent} from './helpers/ruby-tool.js'
import {type LocalS3, startS3} from './helpers/s3.js'
import {World} from './helpers/world.js'

const credentials = {access_key_id: 'S3RVER', region: 'us-east-1', secret_access_key: 'S3RVER'}

async function ok(world: World, ...args: string[]) {
  const result = await world.cli(...args)
  assert.equal(result.code, 0, show(result))
  return result
}

/** A GnuPG home holding nothing but this public key. */
async function keyringWith(dir: string, publicKeyFile: string, gpg = 'gpg'): Promise<string> {
  mkdirSync(dir, {mode: 0o700, recursive: true})
  await run(gpg, ['--batch', '--import', publicKeyFile], {env: {GNUPGHOME: dir}})
  return dir
}

describe('build.legacy_layout: push also writes the Ruby layout', () => {
  let s3: LocalS3
  let world: World
  /** The Ruby objects' keys in the bucket: the raw concatenation of s3_prefix and the name, no `/` added. */
  const url = (name: string) => `${s3.endpoint}/fleet/ruby-${name}`
  const fetchBytes = async (name: string) => {
    const response = await fetch(url(name))
    assert.equal(response.status, 200, `${name}: ${response.status}`)
    return Buffer.from(await response.arrayBuffer())
  }

  before(async () => {
    s3 = await startS3(['fleet'])
    world = await World.create({
      agent: {...credentials},
      build: {...credentials, legacy_layout: true},
      general: {s3_bucket: 'fleet', s3_endpoint: s3.endpoint, s3_prefix: 'ruby-', storage: null},
    })
    await ok(world, 'build')
  })
  after(async () => {
    world.cleanup()
    await s3.stop()
  })

  it('writes artifact, versioned manifest and the pointer last, at the raw prefix, and no public key', async () => {
    const from = s3.requests.length
    await ok(world, 'push')
    const puts = s3.requests
      .slice(from)
      .filter((line) => line.startsWith('PUT /fleet/ruby-'))
      .map((line) => line.slice('PUT /fleet/ruby-'.length))
    const ruby = puts.filter((key) => !key.startsWith('/'))
    assert.equal(ruby.length, 3, puts.join('\n'))
    assert.match(ruby[0], /^artifact\.[0-9a-f]{32}\.tar\.gz/)
    assert.match(ruby[1], /^manifest\.[0-9a-f]{32}\.yaml/)
    assert.match(ruby[2], /^manifest\.latest\.yaml/)
    assert.ok(
      puts.some((key) => key.startsWith('/pupistry/production/latest.json')),
      'pupistry’s own layout is under the prefix as a folder',
    )
    assert.ok(!s3.requests.some((line) => line.includes('.publickey')), 'no public key uploaded unless asked')
  })

  it('passes the Ruby agent’s own steps: YAML.safe_load, gpg GOODSIG with only the public key, tar -xzf, MD5', async () => {
    const manifest = await fetchBytes('manifest.latest.yaml')
    const version = /version: "?'?([0-9a-f]{32})/.exec(manifest.toString())![1]
    assert.deepEqual(await fetchBytes(`manifest.${version}.yaml`), manifest)
    const artifact = await fetchBytes(`artifact.${version}.tar.gz`)
    const home = await keyringWith(
      path.join(world.dir, 'gnupg-public-only'),
      path.join(world.keys, 'pupistry-signing.public.asc'),
    )
    const agent = await replayRubyAgent(path.join(world.dir, 'ruby-agent'), {artifact, manifest}, home)
    assert.equal(agent.manifest.version, version)
    assert.deepEqual(Object.keys(agent.manifest).sort(), ['builduser', 'date', 'gpgsig', 'version'])
    assert.ok(agent.goodsig, 'gpg --verify reports GOODSIG')
    assert.equal(agent.md5, version, 'the version is the MD5 of the uncompressed tar')
    for (const environment of ['production', 'staging', 'feature_x'])
      assert.ok(existsSync(path.join(agent.extracted, 'puppetcode', environment, 'manifests', 'site.pp')), environment)

    // The same check against an empty keyring must fail: GOODSIG above came from that public key.
    const empty = path.join(world.dir, 'gnupg-empty')
    mkdirSync(empty, {mode: 0o700})
    const untrusted = await replayRubyAgent(path.join(world.dir, 'ruby-agent-2'), {artifact, manifest}, empty)
    assert.equal(untrusted.goodsig, false)
  })

  it('gives the same MD5 from another build machine, and pushing it again writes nothing', async () => {
    const before = await fetchBytes('manifest.latest.yaml')
    const other = structuredClone(world.settings)
    other.general.app_cache = path.join(world.dir, 'other-cache')
    const file = path.join(world.dir, 'other.yaml')
    writeFileSync(file, stringify(other))
    const built = await world.cliWith(file, 'build')
    assert.equal(built.code, 0, show(built))
    const from = s3.requests.length
    const pushed = await world.cliWith(file, 'push')
    assert.equal(pushed.code, 0, show(pushed))
    assert.match(pushed.stderr + pushed.stdout, /Ruby layout: [0-9a-f]+ is already live/)
    assert.ok(!s3.requests.slice(from).some((line) => line.startsWith('PUT /fleet/ruby-manifest')), 'nothing rewritten')
    assert.deepEqual(await fetchBytes('manifest.latest.yaml'), before)
  })

  it('leaves the Ruby layout alone when only some environments are pushed', async () => {
    await world.commitToControl('staging', (dir) => writeFileSync(path.join(dir, 'manifests', 'partial.pp'), '# p\n'))
    await ok(world, 'build', '-e', 'staging')
    const from = s3.requests.length
    const pushed = await ok(world, 'push', '-e', 'staging')
    assert.match(pushed.stderr, /the Ruby layout was not updated/)
    assert.ok(!s3.requests.slice(from).some((line) => line.startsWith('PUT /fleet/ruby-manifest')))
  })

  it('uploads <gpg_signing_key>.publickey when asked, before the manifests; prune --legacy keeps the live version', async () => {
    const old = /version: "?'?([0-9a-f]{32})/.exec((await fetchBytes('manifest.latest.yaml')).toString())![1]
    world.settings.build.legacy_public_key = true
    world.settings.general.gpg_signing_key = 'OPSKEY'
    world.writeSettings()
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'manifests', 'new.pp'), '# n\n'))
    await ok(world, 'build')
    const from = s3.requests.length
    await ok(world, 'push')
    const ruby = s3.requests
      .slice(from)
      .filter((line) => /^PUT \/fleet\/ruby-[^/]/.test(line))
      .map((line) => line.slice('PUT /fleet/ruby-'.length).split('?')[0])
    assert.deepEqual(
      ruby.map((key) => key.replace(/[0-9a-f]{32}/, 'V')),
      ['artifact.V.tar.gz', 'OPSKEY.publickey', 'manifest.V.yaml', 'manifest.latest.yaml'],
    )
    assert.match((await fetchBytes('OPSKEY.publickey')).toString(), /BEGIN PGP PUBLIC KEY BLOCK/)
    const live = /version: "?'?([0-9a-f]{32})/.exec((await fetchBytes('manifest.latest.yaml')).toString())![1]
    assert.notEqual(live, old)

    const dry = await ok(world, 'prune', '--legacy', '--keep', '0', '--grace', '0', '--dry-run')
    assert.match(dry.stdout, new RegExp(`would remove ruby-artifact\\.${old}\\.tar\\.gz`))
    const pruned = await ok(world, 'prune', '--legacy', '--keep', '0', '--grace', '0', '--json')
    const result = JSON.parse(pruned.stdout) as {live: string; deleted: {key: string}[]}
    assert.equal(result.live, live)
    assert.deepEqual(result.deleted.map((object) => object.key).sort(), [
      `ruby-artifact.${old}.tar.gz`,
      `ruby-manifest.${old}.yaml`,
    ])
    for (const name of ['manifest.latest.yaml', `manifest.${live}.yaml`, `artifact.${live}.tar.gz`, 'OPSKEY.publickey'])
      await fetchBytes(name)
    assert.equal((await fetch(url(`manifest.${old}.yaml`))).status, 404)
    await ok(world, 'status') // pupistry's own layout is untouched and still reads
    const ownPointer = await fetch(`${s3.endpoint}/fleet/ruby-/pupistry/production/latest.json`)
    assert.equal(ownPointer.status, 200)
  })
})

describe('GnuPG 1.4 and the key types', () => {
  let world: World
  before(async () => {
    world = await World.create({build: {legacy_layout: true}})
  })
  after(() => world.cleanup())

  it('accepts the signature of a `keys generate --type rsa` key, and cannot read the default Ed25519 key', async () => {
    const rsaDir = path.join(world.dir, 'rsa')
    await ok(world, 'keys', 'generate', '--type', 'rsa', '--dir', rsaDir, '--user-id', 'RSA <rsa@example.invalid>')
    world.settings.general.signing_key_file = path.join(rsaDir, 'pupistry-signing.secret.asc')
    world.writeSettings()
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push', '-e', 'production')
    const manifest = readFileSync(path.join(world.store, 'manifest.latest.yaml'))
    const version = /([0-9a-f]{32})/.exec(manifest.toString())![1]
    const artifact = readFileSync(path.join(world.store, `artifact.${version}.tar.gz`))
    const home = await keyringWith(
      path.join(world.dir, 'gpg1-rsa'),
      path.join(rsaDir, 'pupistry-signing.public.asc'),
      'gpg1',
    )
    const agent = await replayRubyAgent(path.join(world.dir, 'gpg1-agent'), {artifact, manifest}, home, 'gpg1')
    assert.ok(agent.goodsig, 'GnuPG 1.4 reports GOODSIG for the RSA key')
    assert.equal(agent.md5, version)

    const ecc = path.join(world.dir, 'gpg1-ecc')
    mkdirSync(ecc, {mode: 0o700})
    await run('gpg1', ['--batch', '--import', path.join(world.keys, 'pupistry-signing.public.asc')], {
      env: {GNUPGHOME: ecc},
    }).catch(() => '')
    const listed = await run('gpg1', ['--batch', '--list-keys'], {env: {GNUPGHOME: ecc}}).catch(() => '')
    assert.doesNotMatch(listed, /Test Signer/, 'GnuPG 1.4 does not import an Ed25519 key')
  })
})
