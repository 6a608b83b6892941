import assert from 'node:assert/strict'
import {createHash, generateKeyPairSync} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {parse as parseYaml, stringify} from 'yaml'

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

/** The keys on a shelf, read from the sidecar files of its fan-out directories. */
function shelvedKeys(shelf: string): string[] {
  return readdirSync(shelf)
    .filter((fan) => !fan.startsWith('.'))
    .flatMap((fan) =>
      readdirSync(path.join(shelf, fan))
        .filter((name) => name.endsWith('.key'))
        .map((name) => path.join(shelf, fan, name)),
    )
    .map((file) => readFileSync(file, 'utf8'))
    .sort()
}

/** The settings file a rendered bootstrap script writes. */
function settingsInScript(script: string): string {
  const match = /put_file "\$settings_file" 0600 <<'(\w+)'\n([\s\S]*?)\n\1\n/.exec(script)
  assert.ok(match, 'the script writes the settings file')
  return `${match[2]}\n`
}

/** Commits a change to production and builds and pushes it: a new release. */
async function release(world: World, name: string): Promise<void> {
  await world.commitToControl('production', (dir) =>
    writeFileSync(path.join(dir, 'manifests', `${name}.pp`), `# ${name}\n`),
  )
  for (const step of [
    ['build', '-e', 'production'],
    ['push', '-e', 'production'],
  ]) {
    const result = await world.cli(...step)
    assert.equal(result.code, 0, show(result))
  }
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
    // The build side may write the shelf, nodes only read it.
    writeFileSync(path.join(shelf, '.write-token'), 'build-writes\n')
    writeFileSync(path.join(shelf, '.read-token'), 'node-reads\n')
    world.settings.general = {
      ...world.settings.general,
      ed25519_key_file: keys.secret,
      shelf_fanout: 3,
      signer: 'ed25519',
      storage: `shelf://${shelf}`,
      trusted_keys: keys.public,
    }
    world.settings.build.shelf_token = 'build-writes'
    world.settings.agent.shelf_token = 'node-reads'
    world.writeSettings()
  })
  after(() => world.cleanup())

  it('links, and its providers are listed with the plugin that provides them', async () => {
    const linked = await world.cliWithoutSettings('plugins', 'link', path.join(FIXTURES, 'shelf'), '--no-install')
    assert.equal(linked.code, 0, show(linked))
    const result = await world.cli('providers', '--json')
    assert.equal(result.code, 0, show(result))
    const listed = JSON.parse(result.stdout) as Array<{
      kind: string
      name: string
      plugin: string
      type: string
      version: string
    }>
    const fromFixture = listed.filter((entry) => entry.plugin === 'pupistry-fixture-shelf')
    assert.deepEqual(
      fromFixture.map(({kind, name, type, version}) => ({kind, name, type, version})),
      [
        {kind: 'storage', name: 'shelf', type: 'link', version: '0.1.0'},
        {kind: 'signers', name: 'ed25519', type: 'link', version: '0.1.0'},
      ],
    )
  })

  it("build → push → apply runs through the plugin's store and signer, with no change to the core", async () => {
    const built = await world.cli('build', '-e', 'production', '--json')
    assert.equal(built.code, 0, show(built))
    const {version} = JSON.parse(built.stdout)[0] as {version: string}

    const pushed = await world.cli('push')
    assert.equal(pushed.code, 0, show(pushed))
    // The plugin's own setting reaches it and is not reported as unknown.
    assert.doesNotMatch(pushed.stderr, /unknown key/)

    // The shelf's layout, not the core's: fan-out directories named by the hash of each key, as wide as general.shelf_fanout.
    assert.equal(existsSync(path.join(shelf, 'pupistry')), false)
    const fans = readdirSync(shelf).filter((name) => !name.startsWith('.'))
    assert.ok(fans.length > 0 && fans.every((name) => /^[0-9a-f]{3}$/.test(name)), fans.join(' '))
    const shelved = shelvedKeys(shelf)
    assert.ok(shelved.includes('pupistry/production/latest.json'), shelved.join(' '))
    assert.ok(shelved.includes(`pupistry/production/artifacts/${version}.tar.gz`), shelved.join(' '))
    // The core told the store which object is rewritten in place (put option mutable): the pointer, and nothing else.
    const marked = fans.flatMap((fan) => readdirSync(path.join(shelf, fan)).filter((name) => name.endsWith('.mutable')))
    assert.deepEqual(marked, [
      `${createHash('sha256').update('pupistry/production/latest.json').digest('hex')}.mutable`,
    ])

    const applied = await world.cli('apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    const result = JSON.parse(applied.stdout) as {action: string}
    assert.equal(result.action, 'installed')
    assert.equal(world.activeVersion(), version)
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n')

    const again = await world.cli('apply', '--minimal', '--json')
    assert.equal(again.code, 0, show(again))
    assert.equal(
      JSON.parse(again.stdout).action,
      'current',
      'the conditional read of the pointer works through the plugin',
    )
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

  it('doctor checks the plugin\'s store and signer, and counts the store\'s own "denied" as least privilege', async () => {
    const result = await world.cli('doctor', '--json')
    assert.equal(result.code, 0, show(result))
    const report = JSON.parse(result.stdout) as {checks: Array<{name: string; status: string; detail: string}>}
    const checks = Object.fromEntries(report.checks.map((check) => [check.name, check]))
    assert.equal(checks['signing key'].status, 'ok', checks['signing key'].detail)
    assert.match(checks['signing key'].detail, /^signer ed25519: the key loads/)
    assert.equal(checks['store (build)'].status, 'ok', checks['store (build)'].detail)
    assert.equal(checks['store (agent)'].status, 'ok', checks['store (agent)'].detail)
    assert.match(
      checks['store (agent)'].detail,
      /can read production serial 1 \(signed by .*build\.pub\.pem\) and its artifact from shelf:/,
    )
    assert.equal(checks['trusted keys'].status, 'ok', checks['trusted keys'].detail)
    assert.equal(checks['least privilege'].status, 'ok', checks['least privilege'].detail)
    assert.match(
      checks['least privilege'].detail,
      /cannot write to shelf:.* \(the agent shelf_token may not write to shelf /,
    )
    assert.equal(checks.exposure.status, 'skip', 'the shelf cannot tell who may read it')
    assert.deepEqual(
      shelvedKeys(shelf).filter((key) => key.includes('.doctor')),
      [],
      'the probes are gone',
    )
  })

  it("bootstrap renders the store's node settings, the read token, general.signer and the key; a node made from it applies", async () => {
    const settings = {
      ...world.settings,
      bootstrap: {
        node_tarballs: {x86_64: {sha256: 'a'.repeat(64), url: 'https://127.0.0.1:9/node-v20-linux-x64.tar.gz'}},
        npm_registry: 'http://127.0.0.1:9/',
      },
    }
    const file = path.join(world.dir, 'bootstrap-settings.yaml')
    writeFileSync(file, stringify(settings))
    const rendered = await world.cliWith(file, 'bootstrap', '--template', 'debian-12')
    assert.equal(rendered.code, 0, show(rendered))
    const script = rendered.stdout
    assert.ok(script.includes(readFileSync(keys.public, 'utf8')), 'the trusted Ed25519 key is in the script')
    assert.doesNotMatch(script, /build-writes|PRIVATE KEY/, 'neither the build token nor a secret key reaches nodes')
    const node = parseYaml(settingsInScript(script)) as {
      general: Record<string, unknown>
      agent: Record<string, unknown>
    }
    assert.equal(node.general.storage, `shelf://${shelf}`)
    assert.equal(node.general.shelf_fanout, 3)
    assert.equal(node.general.signer, 'ed25519')
    assert.equal(node.general.ed25519_key_file, undefined)
    assert.equal(node.agent.shelf_token, 'node-reads')

    // A node with exactly these settings (paths moved into the test's directory) installs the release.
    const trusted = path.join(world.dir, 'node3-keys')
    mkdirSync(trusted)
    writeFileSync(path.join(trusted, 'build.pub.pem'), readFileSync(keys.public))
    node.general.trusted_keys = [trusted]
    node.general.app_cache = path.join(world.dir, 'node3-cache')
    node.agent.puppetcode = path.join(world.dir, 'node3', 'environments')
    const nodeFile = path.join(world.dir, 'node3.yaml')
    writeFileSync(nodeFile, stringify(node))
    const applied = await world.cliWith(nodeFile, 'apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    assert.equal(JSON.parse(applied.stdout).action, 'installed')
    assert.doesNotMatch(applied.stderr, /unknown key/)
  })

  it(
    "a node reading a mirror learns the shelf's prefix from prefixOf, without making the shelf store " +
      '(which would fail here)',
    async () => {
      // A mirror in the core's layout, copied from the shelf's objects, as a sync job would.
      const mirror = path.join(world.dir, 'mirror')
      for (const fan of readdirSync(shelf).filter((name) => !name.startsWith('.'))) {
        for (const name of readdirSync(path.join(shelf, fan)).filter((entry) => entry.endsWith('.key'))) {
          const key = readFileSync(path.join(shelf, fan, name), 'utf8')
          mkdirSync(path.dirname(path.join(mirror, key)), {recursive: true})
          writeFileSync(path.join(mirror, key), readFileSync(path.join(shelf, fan, name.replace(/\.key$/, '.obj'))))
        }
      }

      const node = structuredClone(world.settings)
      // Creating the shelf store on this node fails (a fan-out it refuses): only prefixOf may be asked.
      node.general.shelf_fanout = 9
      node.agent.storage = `file://${mirror}`
      node.general.app_cache = path.join(world.dir, 'node4-cache')
      node.agent.puppetcode = path.join(world.dir, 'node4', 'environments')
      const file = path.join(world.dir, 'node4.yaml')
      writeFileSync(file, stringify(node))
      const applied = await world.cliWith(file, 'apply', '--json')
      assert.equal(applied.code, 0, show(applied))
      assert.equal(JSON.parse(applied.stdout).action, 'installed')
    },
  )

  it('bootstrap asks the Ed25519 verifier about trusted-key files: a secret key or an OpenPGP key is refused (exit 10)', async () => {
    for (const [name, text, message] of [
      ['secret.pem', readFileSync(keys.secret, 'utf8'), /secret\.pem holds a SECRET key; nodes get public keys only/],
      [
        'pgp.asc',
        '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEaUZ9ABYJKwYBBAHaRw8BAQdA\n-----END PGP PUBLIC KEY BLOCK-----\n',
        /pgp\.asc holds no public key the ed25519 signer's verifier can use/,
      ],
    ] as const) {
      const dir = path.join(world.dir, `keys-${name}`)
      mkdirSync(dir)
      writeFileSync(path.join(dir, name), text, {mode: 0o600})
      const settings = structuredClone(world.settings) as typeof world.settings & {bootstrap?: object}
      settings.general.trusted_keys = dir
      settings.bootstrap = {node_tarballs: {x86_64: {sha256: 'a'.repeat(64), url: 'https://127.0.0.1:9/node.tar.gz'}}}
      const file = path.join(world.dir, `bootstrap-${name}.yaml`)
      writeFileSync(file, stringify(settings))
      const result = await world.cliWith(file, 'bootstrap', '--template', 'debian-12')
      assert.equal(result.code, 10, show(result))
      assert.match(result.stderr, message)
    }
  })

  it('prune frees what no kept manifest needs on the shelf (its listing dates objects)', async () => {
    const first = shelvedKeys(shelf).filter((key) => key.includes('/artifacts/'))
    await release(world, 'second')
    await release(world, 'third')
    const result = await world.cli('prune', '--keep', '0', '--grace', '0s', '--json')
    assert.equal(result.code, 0, show(result))
    const [pruned] = JSON.parse(result.stdout) as Array<{
      environment: string
      deleted: Array<{key: string}>
      undated?: number
    }>
    assert.equal(pruned.undated, undefined, show(result))
    assert.doesNotMatch(result.stderr, /does not say when/)
    const left = shelvedKeys(shelf)
    assert.deepEqual(left.filter((key) => key.includes('/artifacts/')).length, 1, left.join(' '))
    for (const key of first) assert.ok(!left.includes(key), `${key} was pruned`)
    assert.ok(
      pruned.deleted.some((object) => first.includes(object.key)),
      JSON.stringify(pruned),
    )
  })

  it("a misspelt plugin setting is reported as unknown, the plugin's error names the setting it needs", async () => {
    const settings = structuredClone(world.settings)
    delete settings.general.ed25519_key_file
    settings.general.ed25519_keyfile = keys.secret
    const file = path.join(world.dir, 'misspelt.yaml')
    writeFileSync(file, stringify(settings))
    const result = await world.cliWith(file, 'push', '--refresh')
    assert.equal(result.code, 10, show(result))
    assert.match(
      result.stderr,
      /misspelt\.yaml:\d+:\d+: unknown key "general\.ed25519_keyfile" ignored \(neither pupistry nor an installed plugin reads it\)/,
    )
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

describe('a plugin written for contract 1 (the shelf before contract 2) still works: the core adapts it', () => {
  let world: World
  let shelf: string

  before(async () => {
    world = await World.create({noKeys: true})
    world.env = pluginHome(world.dir)
    shelf = path.join(world.dir, 'shelf1')
    mkdirSync(shelf)
    const keys = ed25519Keys(path.join(world.dir, 'ed25519'), 'build')
    const general = {
      ed25519_key_file: keys.secret,
      signer: 'ed25519v1',
      storage: `shelf1://${shelf}`,
      trusted_keys: keys.public,
    }
    world.settings.general = {...world.settings.general, ...general}
    world.writeSettings()
    const linked = await world.cliWithoutSettings('plugins', 'link', path.join(FIXTURES, 'shelf-v1'), '--no-install')
    assert.equal(linked.code, 0, show(linked))
  })
  after(() => world.cleanup())

  it('is listed without a warning, and build → push → apply run through its store and signer', async () => {
    const listing = await world.cli('providers', '--json')
    assert.equal(listing.code, 0, show(listing))
    const listed = JSON.parse(listing.stdout) as Array<{name: string; plugin: string}>
    const names = listed.filter((entry) => entry.plugin === 'pupistry-fixture-shelf-v1').map((entry) => entry.name)
    assert.deepEqual(names.sort(), ['ed25519v1', 'shelf1'])
    assert.doesNotMatch(listing.stderr, /contract/)

    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    const pushed = await world.cli('push')
    assert.equal(pushed.code, 0, show(pushed))
    assert.ok(shelvedKeys(shelf).includes('pupistry/production/latest.json'))
    const applied = await world.cli('apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    assert.equal(JSON.parse(applied.stdout).action, 'installed')
  })

  it('prune keeps what the store cannot date, and says why', async () => {
    await release(world, 'second')
    const result = await world.cli('prune', '--keep', '0', '--grace', '0s', '--json')
    assert.equal(result.code, 0, show(result))
    const [pruned] = JSON.parse(result.stdout) as Array<{undated?: number; deleted: Array<{key: string}>}>
    assert.equal(pruned.undated, 1, show(result))
    assert.ok(
      pruned.deleted.every((object) => object.key.includes('/manifests/')),
      JSON.stringify(pruned.deleted),
    )
    assert.match(
      result.stderr,
      /production: kept 1 artifact\(s\) no kept manifest needs, because shelf1:.* does not say when they were written/,
    )
    assert.equal(shelvedKeys(shelf).filter((key) => key.includes('/artifacts/')).length, 2)
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
    const thrown =
      'warning: plugin pupistry-fixture-broken failed to answer pupistry:assemblers: the assembler registry of this plugin is on fire'
    assert.equal(count(built.stderr, thrown), 1, show(built))

    const pushed = await world.cli('push')
    assert.equal(pushed.code, 0, show(pushed))
    const nonsense =
      'warning: plugin pupistry-fixture-broken answered pupistry:storage with something other than a list of providers; ignored'
    assert.equal(count(pushed.stderr, nonsense), 1, show(pushed))
    // Two plugins offer "file": the core's wins (the impostor's create() would throw), and that is said.
    assert.equal(
      count(
        pushed.stderr,
        'warning: storage provider "file" is offered by both pupistry and pupistry-fixture-outdated; using pupistry',
      ),
      1,
      show(pushed),
    )

    const applied = await world.cli('apply', '--json')
    assert.equal(applied.code, 0, show(applied))
    assert.equal(JSON.parse(applied.stdout).action, 'installed')
    assert.match(
      applied.stderr,
      /plugin pupistry-fixture-broken answered pupistry:signers with something other than a list of providers/,
    )
  })

  it('a provider made for another plugin contract is refused with a clear message, also when chosen', async () => {
    const listing = await world.cli('providers', '--json')
    assert.equal(listing.code, 0, show(listing))
    assert.equal(
      (JSON.parse(listing.stdout) as Array<{name: string}>).some((entry) => entry.name === 'quantum'),
      false,
    )
    const refusal =
      'signer "quantum" of plugin pupistry-fixture-outdated@2.0.0 was written for plugin contract 3, but ' +
      'this pupistry speaks contracts 1 to 2'
    assert.equal(count(listing.stderr, `warning: ${refusal}; ignored`), 1, show(listing))

    const settings = structuredClone(world.settings)
    settings.general.signer = 'quantum'
    const file = path.join(world.dir, 'quantum.yaml')
    writeFileSync(file, stringify(settings))
    const result = await world.cliWith(file, 'push', '--refresh')
    assert.equal(result.code, 2, show(result))
    assert.match(result.stderr, new RegExp(`^pupistry: error: ${refusal.replace(/[.@"]/g, '\\$&')}$`, 'm'))
    assert.match(
      result.stderr,
      /^hint: upgrade pupistry, or install a version of pupistry-fixture-outdated made for contract 2$/m,
    )
  })
})
