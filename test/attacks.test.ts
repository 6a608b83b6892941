import assert from 'node:assert/strict'
import {copyFileSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, beforeEach, describe, it} from 'node:test'

import {dump as stringify} from 'js-yaml'

import {type CliResult, show} from './helpers/cli.js'
import {craftArchive, stageBuild} from './helpers/craft.js'
import {World} from './helpers/world.js'

const REFUSED = 20

describe('a node refuses tampered, replayed and hostile releases and keeps the previous one', () => {
  let world: World
  let good: string
  let pointer: string
  let goodPointer: Buffer
  let appCache: string

  before(async () => {
    world = await World.create()
    appCache = world.settings.general.app_cache as string
    for (const step of [['build', '-e', 'production', '-e', 'staging'], ['push'], ['apply']]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    good = world.activeVersion()!
    pointer = world.storePath('production', 'latest.json')
    goodPointer = readFileSync(pointer)
  })
  after(() => world.cleanup())
  beforeEach(() => writeFileSync(pointer, goodPointer))

  /** The node refused, said why, and the previous release is still active and intact. */
  function assertRefused(result: CliResult, reason: RegExp): void {
    assert.equal(result.code, REFUSED, show(result))
    assert.match(result.stderr, reason)
    assert.match(result.stderr, /^pupistry: error: /m)
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace')
    assert.equal(world.activeVersion(), good)
    assert.match(readFileSync(path.join(world.puppetcode, 'production', 'manifests', 'site.pp'), 'utf8'), /include profile::base/)
  }

  const envelope = () => JSON.parse(goodPointer.toString('utf8'))
  const payloadOf = (env: {payload: string}) => JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'))

  it('a byte flipped in the stored artifact', async () => {
    const manifest = payloadOf(envelope())
    const artifact = path.join(world.store, manifest.artifact.key)
    const original = readFileSync(artifact)
    const flipped = Buffer.from(original)
    flipped[Math.floor(flipped.length / 2)] ^= 0x01
    writeFileSync(artifact, flipped)
    try {
      assertRefused(await world.cli('apply', '--force'), /has SHA-256 [0-9a-f]{64}, the manifest signed [0-9a-f]{64}; refused/)
    } finally {
      writeFileSync(artifact, original)
    }
  })

  it('an artifact longer than signed', async () => {
    const manifest = payloadOf(envelope())
    const artifact = path.join(world.store, manifest.artifact.key)
    const original = readFileSync(artifact)
    writeFileSync(artifact, Buffer.concat([original, Buffer.from('trailing')]))
    try {
      assertRefused(await world.cli('apply', '--force'), /longer than the \d+ bytes signed/)
    } finally {
      writeFileSync(artifact, original)
    }
  })

  it('a manifest edited after signing', async () => {
    const env = envelope()
    const manifest = payloadOf(env)
    manifest.serial = 99
    env.payload = Buffer.from(JSON.stringify(manifest)).toString('base64')
    writeFileSync(pointer, JSON.stringify(env))
    assertRefused(await world.cli('apply'), /no valid signature by a trusted key/)
  })

  it('a signature by a key the node does not trust', async () => {
    const other = path.join(world.dir, 'other-keys')
    const generated = await world.cli('keys', 'generate', '--dir', other, '--user-id', 'Mallory <m@example.invalid>')
    assert.equal(generated.code, 0, show(generated))
    const settings = structuredClone(world.settings)
    settings.general.signing_key_file = path.join(other, 'pupistry-signing.secret.asc')
    settings.general.trusted_keys = path.join(other, 'pupistry-signing.public.asc')
    const mallory = path.join(world.dir, 'mallory.yaml')
    writeFileSync(mallory, stringify(settings))
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'manifests', 'evil.pp'), '# evil\n'))
    assert.equal((await world.cliWith(mallory, 'build', '-e', 'production')).code, 0)
    const pushed = await world.cliWith(mallory, 'push', '-e', 'production')
    assert.equal(pushed.code, 0, show(pushed))
    try {
      assertRefused(await world.cli('apply'), /no valid signature by a trusted key \(signed by [0-9A-F]{40}\)/)
    } finally {
      // Put the legitimate serial-1 manifest back as the newest one.
      rmSync(world.storePath('production', 'manifests', '000000000002.json'))
    }
  })

  it('an unsigned manifest on a node that trusts keys', async () => {
    const env = envelope()
    env.signatures = []
    writeFileSync(pointer, JSON.stringify(env))
    assertRefused(await world.cli('apply'), /is not signed, and this node only accepts signed manifests/)
  })

  it('a validly signed manifest of another environment copied onto this pointer', async () => {
    copyFileSync(world.storePath('staging', 'latest.json'), pointer)
    assertRefused(await world.cli('apply'), /manifest is signed for environment staging, but this node asked for production; refused/)
  })

  it('a node with no trusted keys refuses everything', async () => {
    const settings = structuredClone(world.settings)
    delete settings.general.trusted_keys
    const file = path.join(world.dir, 'untrusting.yaml')
    writeFileSync(file, stringify(settings))
    assertRefused(await world.cliWith(file, 'apply', '--force'), /no trusted keys configured/)
  })

  it('an older signed manifest copied over the pointer (rollback)', async () => {
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'manifests', 'extra.pp'), '# newer\n'))
    for (const step of [['build', '-e', 'production'], ['push', '-e', 'production'], ['apply', '--minimal']]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    good = world.activeVersion()!
    const newer = readFileSync(pointer)
    writeFileSync(pointer, goodPointer) // the old, validly signed serial-1 manifest
    try {
      assertRefused(await world.cli('apply'), /offers serial 1, older than the installed serial \d+; refusing a rollback/)
    } finally {
      goodPointer = newer
    }
  })

  it('a validly signed manifest whose build.modules is an array', async () => {
    stageBuild(appCache, 'production', craftArchive([{path: 'manifests/site.pp', content: 'notice("x")\n'}]))
    const record = path.join(appCache, 'build', 'production', 'build.json')
    const built = JSON.parse(readFileSync(record, 'utf8'))
    writeFileSync(record, JSON.stringify({...built, build: {...built.build, modules: ['a']}}))
    // push signs and writes it, then its own read-back refuses it; the signed pointer stays in the store for nodes to read
    const pushed = await world.cli('push', '-e', 'production')
    assert.equal(pushed.code, REFUSED, show(pushed))
    assert.notDeepEqual(readFileSync(pointer), goodPointer)
    assertRefused(await world.cli('apply'), /invalid manifest \(build\.modules: expected an object of strings\)/)
  })

  for (const [name, entries, reason] of [
    ['a path with ..', [{path: 'manifests/../../x', content: 'x'}], /path with "\.\."|\.\./],
    ['an absolute path', [{path: '/tmp/pupistry-abs-attack', content: 'x'}], /absolute path|stripping/],
    ['a symlink out of the tree', [{path: 'manifests', type: 'Directory'}, {path: 'manifests/site.pp', type: 'SymbolicLink', linkpath: '../../../../etc/passwd'}], /points outside the tree/],
    ['an absolute symlink', [{path: 'evil', type: 'SymbolicLink', linkpath: '/etc/shadow'}], /symlink to absolute path/],
    ['a hardlink', [{path: 'a', content: 'x'}, {path: 'b', type: 'Link', linkpath: 'a'}], /hardlink b/],
    ['a device node', [{path: 'null', type: 'CharacterDevice'}], /CharacterDevice entry null/],
    ['a setuid file', [{path: 'suid', content: 'x', mode: 0o4755}], /set-id or sticky bits on suid/],
  ] as const) {
    it(`an archive containing ${name}, even when signed`, async () => {
      stageBuild(appCache, 'production', craftArchive(entries.map((entry) => ({...entry}))))
      const pushed = await world.cli('push', '-e', 'production')
      assert.equal(pushed.code, 0, show(pushed))
      assertRefused(await world.cli('apply'), reason)
      assert.throws(() => readFileSync('/tmp/pupistry-abs-attack'), /ENOENT/)
    })
  }
})
