import assert from 'node:assert/strict'
import {generateKeyPairSync} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {dump as stringify} from 'js-yaml'

import {ROOT, show} from './helpers/cli.js'
import {pluginHome} from './helpers/plugin-home.js'
import {World} from './helpers/world.js'

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'plugins')

/** Writes an Ed25519 key pair as PEM files, as an operator would with openssl. */
function ed25519Keys(dir: string, name: string): {secret: string; public: string} {
  mkdirSync(dir, {recursive: true})
  const pair = generateKeyPairSync('ed25519')
  const files = {public: path.join(dir, `${name}.pub.pem`), secret: path.join(dir, `${name}.pem`)}
  writeFileSync(files.secret, pair.privateKey.export({format: 'pem', type: 'pkcs8'}), {mode: 0o600})
  writeFileSync(files.public, pair.publicKey.export({format: 'pem', type: 'spki'}))
  return files
}

function count(text: string, part: string): number {
  return text.split(part).length - 1
}

describe('a third-party plugin from test fixtures (a store with its own layout and an Ed25519 signer) linked with `plugins link`', () => {
  let world: World
  let shelf: string
  let keys: {secret: string; public: string}

  before(async () => {
    world = await World.create({noKeys: true})
    world.env = pluginHome(world.dir)
    shelf = path.join(world.dir, 'shelf')
    mkdirSync(shelf)
    keys = ed25519Keys(path.join(world.dir, 'ed25519'), 'build')
    world.settings.general = {
      ...world.settings.general,
      ed25519_key_file: keys.secret,
      signer: 'ed25519',
      storage: `shelf://${shelf}`,
      trusted_keys: keys.public,
    }
    world.writeSettings()
  })
  after(() => world.cleanup())

  it('links, and its providers are listed with the plugin that provides them', async () => {
    const linked = await world.cliWithoutSettings('plugins', 'link', path.join(FIXTURES, 'shelf'), '--no-install')
    assert.equal(linked.code, 0, show(linked))
    const result = await world.cli('providers', '--json')
    assert.equal(result.code, 0, show(result))
    const listed = JSON.parse(result.stdout) as Array<{kind: string; name: string; plugin: string; type: string; version: string}>
    const fromFixture = listed.filter((entry) => entry.plugin === 'pupistry-fixture-shelf')
    assert.deepEqual(
      fromFixture.map(({kind, name, type, version}) => ({kind, name, type, version})),
      [
        {kind: 'storage', name: 'shelf', type: 'link', version: '0.1.0'},
        {kind: 'signers', name: 'ed25519', type: 'link', version: '0.1.0'},
      ],
    )
  })

  it('build → push → apply runs through the plugin\'s store and signer, with no change to the core', async () => {
    const built = await world.cli('build', '-e', 'production', '--json')
    assert.equal(built.code, 0, show(built))
    const {version} = JSON.parse(built.stdout)[0] as {version: string}

    const pushed = await world.cli('push')
    assert.equal(pushed.code, 0, show(pushed))
    // The plugin's own setting reaches it and is not reported as unknown.
    assert.doesNotMatch(pushed.stderr, /unknown key/)

    // The shelf's layout, not the core's: fan-out directories named by the hash of each key.
    assert.equal(existsSync(path.join(shelf, 'pupistry')), false)
    const fans = readdirSync(shelf)
    assert.ok(fans.length > 0 && fans.every((name) => /^[0-9a-f]{2}$/.test(name)), fans.join(' '))
    const shelved = fans.flatMap((fan) => readdirSync(path.join(shelf, fan)).filter((name) => name.endsWith('.key')).map((name) => readFileSync(path.join(shelf, fan, name), 'utf8')))
    assert.ok(shelved.includes('pupistry/production/latest.json'), shelved.join(' '))
    assert.ok(shelved.includes(`pupistry/production/artifacts/${version}.tar.gz`), shelved.join(' '))

    const applied = await world.cli('apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    const result = JSON.parse(applied.stdout) as {action: string}
    assert.equal(result.action, 'installed')
    assert.equal(world.activeVersion(), version)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n')

    const again = await world.cli('apply', '--minimal', '--json')
    assert.equal(again.code, 0, show(again))
    assert.equal(JSON.parse(again.stdout).action, 'current', 'the conditional read of the pointer works through the plugin')
  })

  it('a node that trusts another Ed25519 key refuses the manifest (exit 20): the signatures are really checked', async () => {
    const stranger = ed25519Keys(path.join(world.dir, 'stranger'), 'stranger')
    const node = structuredClone(world.settings)
    node.general.trusted_keys = stranger.public
    node.general.app_cache = path.join(world.dir, 'node2-cache')
    node.agent.puppetcode = path.join(world.dir, 'node2', 'environments')
    const file = path.join(world.dir, 'node2.yaml')
    writeFileSync(file, stringify(node))
    const result = await world.cliWith(file, 'apply')
    assert.equal(result.code, 20, show(result))
    assert.match(result.stderr, /no valid signature by a trusted key/)
  })

  it('a misspelt plugin setting is reported as unknown, the plugin\'s error names the setting it needs', async () => {
    const settings = structuredClone(world.settings)
    delete settings.general.ed25519_key_file
    settings.general.ed25519_keyfile = keys.secret
    const file = path.join(world.dir, 'misspelt.yaml')
    writeFileSync(file, stringify(settings))
    const result = await world.cliWith(file, 'push', '--refresh')
    assert.equal(result.code, 10, show(result))
    assert.match(result.stderr, /misspelt\.yaml:\d+: unknown key "general\.ed25519_keyfile" ignored \(neither pupistry nor an installed plugin reads it\)/)
    assert.match(result.stderr, /^pupistry: error: general\.ed25519_key_file is not set/m)
  })

  it('unlinked, its store is gone and pupistry says so', async () => {
    const unlinked = await world.cliWithoutSettings('plugins', 'unlink', 'pupistry-fixture-shelf')
    assert.equal(unlinked.code, 0, show(unlinked))
    const result = await world.cli('push')
    assert.equal(result.code, 2, show(result))
    assert.match(result.stderr, /no storage provider named "shelf" is installed/)
  })
})

describe('a broken plugin and a plugin made for another contract do not break the CLI', () => {
  let world: World

  before(async () => {
    world = await World.create()
    world.env = pluginHome(world.dir)
    for (const fixture of ['broken', 'outdated']) {
      const linked = await world.cliWithoutSettings('plugins', 'link', path.join(FIXTURES, fixture), '--no-install')
      assert.equal(linked.code, 0, show(linked))
    }
  })
  after(() => world.cleanup())

  it('`pupistry --help` works and asks no plugin for providers', async () => {
    const result = await world.cliWithoutSettings('--help')
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /COMMANDS/)
    assert.doesNotMatch(result.stderr, /fixture/)
  })

  it('build, push and apply work; each failure is named once, with the plugin and the reason', async () => {
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    const thrown = 'warning: plugin pupistry-fixture-broken failed to answer pupistry:assemblers: the assembler registry of this plugin is on fire'
    assert.equal(count(built.stderr, thrown), 1, show(built))

    const pushed = await world.cli('push')
    assert.equal(pushed.code, 0, show(pushed))
    const nonsense = 'warning: plugin pupistry-fixture-broken answered pupistry:storage with something other than a list of providers; ignored'
    assert.equal(count(pushed.stderr, nonsense), 1, show(pushed))
    // Two plugins offer "file": the core's wins (the impostor's create() would throw), and that is said.
    assert.equal(count(pushed.stderr, 'warning: storage provider "file" is offered by both pupistry and pupistry-fixture-outdated; using pupistry'), 1, show(pushed))

    const applied = await world.cli('apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    assert.equal(JSON.parse(applied.stdout).action, 'installed')
    assert.match(applied.stderr, /plugin pupistry-fixture-broken answered pupistry:signers with something other than a list of providers/)
  })

  it('a provider made for another plugin contract is refused with a clear message, also when chosen', async () => {
    const listing = await world.cli('providers', '--json')
    assert.equal(listing.code, 0, show(listing))
    assert.equal((JSON.parse(listing.stdout) as Array<{name: string}>).some((entry) => entry.name === 'quantum'), false)
    const refusal = 'signer "quantum" of plugin pupistry-fixture-outdated@2.0.0 was written for plugin contract 2, but this pupistry speaks contract 1'
    assert.equal(count(listing.stderr, `warning: ${refusal}; ignored`), 1, show(listing))

    const settings = structuredClone(world.settings)
    settings.general.signer = 'quantum'
    const file = path.join(world.dir, 'quantum.yaml')
    writeFileSync(file, stringify(settings))
    const result = await world.cliWith(file, 'push', '--refresh')
    assert.equal(result.code, 2, show(result))
    assert.match(result.stderr, new RegExp(`^pupistry: error: ${refusal.replace(/[.@"]/g, '\\$&')}$`, 'm'))
    assert.match(result.stderr, /^hint: upgrade pupistry, or install a version of pupistry-fixture-outdated made for contract 1$/m)
  })
})
