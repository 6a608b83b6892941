import assert from 'node:assert/strict'
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

// The built packer: its tar thread runs dist/artifact/pack-worker.js, which tsx's loader does not serve from src/.
import {packTree} from '../../../dist/artifact/pack.js'
import {run, show} from '../../../test/helpers/cli.js'
import {World} from '../../../test/helpers/world.js'
import {ForgeServer} from './forge-server.js'
import {buildRecord, buildWith} from './helpers.js'

describe('Forge modules from a Forge API on 127.0.0.1', () => {
  let world: World
  let forge: ForgeServer
  const control = () => `file://${world.repos}/control.git`
  const settings = () => ({build: {forge: {baseurl: forge.url}}})

  before(async () => {
    forge = new ForgeServer()
    await forge.start()
    await forge.publish('acme-tools', '1.0.0')
    await forge.publish('acme-tools', '1.2.0')
    await forge.publish('acme-extra', '0.3.1')
    world = await World.create({noKeys: true})
    await world.commitToControl('production', (dir) => {
      const puppetfile = path.join(dir, 'Puppetfile')
      writeFileSync(
        puppetfile,
        `${readFileSync(puppetfile, 'utf8')}\nmod 'acme/tools', '1.0.0'\nmod 'acme-extra', :latest\n`,
      )
    })
  })
  after(async () => {
    world.cleanup()
    await forge.stop()
  })

  it('gives the tree r10k deploys from the same Forge (the same artifact SHA-256)', async () => {
    const native = await buildWith(world.dir, 'native', control(), {...settings(), args: ['-e', 'production']})
    assert.equal(native.result.code, 0, show(native.result))
    assert.match(
      native.result.stderr,
      /acme-tools-1\.0\.0: symlinks and special files are not unpacked from Forge tarballs, as r10k does: .*files\/link\.sh/,
    )

    // The bundled r10k assembler has no Forge setting: r10k runs here with its own configuration.
    const basedir = path.join(world.dir, 'r10k-environments')
    const config = path.join(world.dir, 'r10k-forge.yaml')
    writeFileSync(
      config,
      JSON.stringify({
        cachedir: path.join(world.dir, 'r10k-cache'),
        forge: {baseurl: forge.url},
        sources: {main: {basedir, remote: control()}},
      }),
    )
    await run('r10k', ['deploy', 'environment', 'production', '--modules', '--config', config])
    assert.ok(existsSync(path.join(basedir, 'production', 'modules', 'tools', 'manifests', 'init.pp')))
    const packed = await packTree(path.join(basedir, 'production'), path.join(world.dir, 'r10k-production.tar.gz'))
    assert.equal(native.versions.production, packed.sha256)
  })

  it('resolves :latest and reports Forge versions', () => {
    const modules = buildRecord(world.dir, 'native', 'production').build.modules
    assert.equal(modules.tools, '1.0.0')
    assert.equal(modules.extra, '0.3.1')
  })

  it('keeps verified tarballs by version: a fresh environment tree downloads nothing', async () => {
    rmSync(path.join(world.dir, 'cache-native', 'providers', 'native', 'environments'), {force: true, recursive: true})
    rmSync(path.join(world.dir, 'cache-native', 'providers', 'native', 'state'), {force: true, recursive: true})
    const downloads = forge.downloads
    const again = await buildWith(world.dir, 'native', control(), {...settings(), args: ['-e', 'production']})
    assert.equal(again.result.code, 0, show(again.result))
    assert.equal(forge.downloads, downloads)
  })

  it('refuses a tarball whose SHA-256 is not the one the Forge publishes (exit 12), and keeps nothing of it', async () => {
    const release = await forge.publish('acme-tampered', '2.0.0')
    release.tampered = Buffer.from(release.tarball)
    release.tampered[release.tampered.length - 10] ^= 0xff
    await world.commitToControl('staging', (dir) =>
      writeFileSync(path.join(dir, 'Puppetfile'), "mod 'acme/tampered', '2.0.0'\n"),
    )
    const result = await buildWith(world.dir, 'native', control(), {...settings(), args: ['-e', 'staging']})
    assert.equal(result.result.code, 12, show(result.result))
    assert.match(
      result.result.stderr,
      new RegExp(
        /the tarball of acme-tampered-2\.0\.0 from /.source +
          /http:\/\/127\.0\.0\.1:\d+\/v3\/files\/acme-tampered-2\.0\.0\.tar\.gz has SHA-256 /.source +
          /[0-9a-f]{64}, but the Forge publishes [0-9a-f]{64}: refusing it/.source,
      ),
    )
    assert.ok(!existsSync(path.join(world.dir, 'cache-native', 'providers', 'native', 'forge', 'acme-tampered-2.0.0')))
    assert.ok(!existsSync(path.join(world.dir, 'cache-native', 'providers', 'native', 'environments', 'staging')))
  })

  it('a release the Forge does not have exits 12 and names it', async () => {
    await world.commitToControl('staging', (dir) =>
      writeFileSync(path.join(dir, 'Puppetfile'), "mod 'acme/tools', '9.9.9'\n"),
    )
    const result = await buildWith(world.dir, 'native', control(), {...settings(), args: ['-e', 'staging']})
    assert.equal(result.result.code, 12, show(result.result))
    assert.match(result.result.stderr, /the release acme-tools-9\.9\.9 does not exist on http:\/\/127\.0\.0\.1:\d+/)
  })

  it('follows a redirect to the tarball', async () => {
    await forge.publish('acme-moved', '1.0.0')
    await world.commitToControl('staging', (dir) =>
      writeFileSync(path.join(dir, 'Puppetfile'), "mod 'acme/moved', '1.0.0'\n"),
    )
    forge.redirectFiles = true
    try {
      const result = await buildWith(world.dir, 'native', control(), {...settings(), args: ['-e', 'staging']})
      assert.equal(result.result.code, 0, show(result.result))
      assert.equal(buildRecord(world.dir, 'native', 'staging').build.modules.moved, '1.0.0')
      const staging = path.join(world.dir, 'cache-native', 'providers', 'native', 'environments', 'staging')
      assert.ok(existsSync(path.join(staging, 'modules', 'moved', 'metadata.json')))
    } finally {
      forge.redirectFiles = false
    }
  })
})
