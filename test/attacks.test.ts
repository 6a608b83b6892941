import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, beforeEach, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'

import {stringify} from 'yaml'

import {type CliResult, show} from './helpers/cli.js'
import {craftArchive, craftTar, stageBuild} from './helpers/craft.js'
import {World} from './helpers/world.js'

const REFUSED = 20
const STORE = 13

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
  beforeEach(() => {
    rmSync(pointer, {force: true, recursive: true})
    writeFileSync(pointer, goodPointer)
  })

  /** The node refused, said why, and the previous release is still active and intact. */
  function assertRefused(result: CliResult, reason: RegExp): void {
    assert.equal(result.code, REFUSED, show(result))
    assert.match(result.stderr, reason)
    assert.match(result.stderr, /^pupistry: error: /m)
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace')
    assert.equal(world.activeVersion(), good)
    assert.match(
      readFileSync(path.join(world.puppetcode, 'production', 'manifests', 'site.pp'), 'utf8'),
      /include profile::base/,
    )
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
      assertRefused(
        await world.cli('apply', '--force'),
        /has SHA-256 [0-9a-f]{64}, the manifest signed [0-9a-f]{64}; refused/,
      )
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
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', 'evil.pp'), '# evil\n'),
    )
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

  it('escape sequences and newlines in unsigned envelope fields never reach a terminal or a log raw', async () => {
    const hostile = '\u001B[2K\rpupistry: applied serial 9\npupistry: error: forged\u202E'
    const forged = envelope()
    forged.signatures[0].keyid = hostile
    forged.payload = Buffer.from(JSON.stringify({...payloadOf(forged), serial: 7})).toString('base64')
    writeFileSync(pointer, JSON.stringify(forged))
    const result = await world.cli('apply')
    assertRefused(result, /no valid signature by a trusted key \(signed by \\x1b\[2K\\x0dpupistry: applied serial 9/)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: these are what must not come through
    const raw = /[\u001B\r\u202E]/
    assert.doesNotMatch(result.stderr, raw)
    assert.doesNotMatch(result.stderr, /^pupistry: error: forged/m, 'no line of the store starts a line of ours')

    writeFileSync(pointer, JSON.stringify({...envelope(), [`x${hostile}`]: 1}))
    const member = await world.cli('apply', '--log-format', 'json')
    assert.equal(member.code, REFUSED, show(member))
    assert.doesNotMatch(member.stderr + member.stdout, raw)

    // The refusal is recorded in the state; status shows it in one escaped cell.
    const status = await world.cli('status')
    assert.doesNotMatch(status.stdout, raw)
    assert.equal(status.stdout.trim().split('\n').length, 3, status.stdout)
  })

  it('an unsigned manifest on a node that trusts keys', async () => {
    const env = envelope()
    env.signatures = []
    writeFileSync(pointer, JSON.stringify(env))
    assertRefused(await world.cli('apply'), /is not signed, and this node only accepts signed manifests/)
  })

  it('a validly signed manifest of another environment copied onto this pointer', async () => {
    copyFileSync(world.storePath('staging', 'latest.json'), pointer)
    assertRefused(
      await world.cli('apply'),
      /manifest is signed for environment staging, but this node asked for production; refused/,
    )
  })

  it('a node with no trusted keys refuses everything', async () => {
    const settings = structuredClone(world.settings)
    delete settings.general.trusted_keys
    const file = path.join(world.dir, 'untrusting.yaml')
    writeFileSync(file, stringify(settings))
    assertRefused(await world.cliWith(file, 'apply', '--force'), /no trusted keys configured/)
  })

  it('an older signed manifest copied over the pointer (rollback)', async () => {
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', 'extra.pp'), '# newer\n'),
    )
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '-e', 'production'],
      ['apply', '--minimal'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    good = world.activeVersion()!
    const newer = readFileSync(pointer)
    writeFileSync(pointer, goodPointer) // the old, validly signed serial-1 manifest
    try {
      assertRefused(
        await world.cli('apply'),
        /offers serial 1, older than the installed serial \d+; refusing a rollback/,
      )
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
    [
      'a symlink out of the tree',
      [
        {path: 'manifests', type: 'Directory'},
        {path: 'manifests/site.pp', type: 'SymbolicLink', linkpath: '../../../../etc/passwd'},
      ],
      /points outside the tree/,
    ],
    [
      'an absolute symlink',
      [{path: 'evil', type: 'SymbolicLink', linkpath: '/etc/shadow'}],
      /symlink to absolute path/,
    ],
    [
      'a hardlink',
      [
        {path: 'a', content: 'x'},
        {path: 'b', type: 'Link', linkpath: 'a'},
      ],
      /hardlink b/,
    ],
    ['a device node', [{path: 'null', type: 'CharacterDevice'}], /CharacterDevice entry null/],
    ['a setuid file', [{path: 'suid', content: 'x', mode: 0o4755}], /set-id or sticky bits on suid/],
  ] as const) {
    it(`an archive containing ${name}, even when signed`, async () => {
      stageBuild(appCache, 'production', craftArchive(entries.map((entry) => ({...entry}))))
      // A hostile publisher with the key skips pupistry's own checks: the node must refuse on its own.
      const pushed = await world.cli('push', '-e', 'production', '--no-validate')
      assert.equal(pushed.code, 0, show(pushed))
      assertRefused(await world.cli('apply'), reason)
      assert.throws(() => readFileSync('/tmp/pupistry-abs-attack'), /ENOENT/)
    })
  }
  /** The node gave up with a store error naming the object, and the previous release is still active. */
  function assertStoreRefused(result: CliResult, reason: RegExp): void {
    assert.equal(result.code, STORE, show(result))
    assert.match(result.stderr, reason)
    assert.doesNotMatch(result.stderr, /internal error|EISDIR/)
    assert.equal(world.activeVersion(), good)
  }

  it('a FIFO or a directory as the pointer is refused at once as a store error, not a hang or EISDIR', async () => {
    rmSync(pointer)
    execFileSync('mkfifo', [pointer])
    assertStoreRefused(
      await world.cli('apply', '--minimal'),
      /refusing pupistry\/production\/latest\.json in .*: it is a FIFO \(named pipe\), not a regular file/,
    )
    rmSync(pointer)
    mkdirSync(pointer)
    assertStoreRefused(
      await world.cli('apply', '--minimal'),
      /refusing pupistry\/production\/latest\.json in .*: it is a directory, not a regular file/,
    )
  })

  it('a FIFO as the artifact a fresh signed manifest names is refused at once', async () => {
    const version = stageBuild(
      appCache,
      'production',
      craftArchive([{content: 'node default {}\n', path: 'manifests/site.pp'}]),
    )
    const pushed = await world.cli('push', '-e', 'production')
    assert.equal(pushed.code, 0, show(pushed))
    const artifact = world.storePath('production', 'artifacts', `${version}.tar.gz`)
    rmSync(artifact)
    execFileSync('mkfifo', [artifact])
    assertStoreRefused(
      await world.cli('apply', '--minimal'),
      new RegExp(`refusing pupistry/production/artifacts/${version}\\.tar\\.gz in .*: it is a FIFO`),
    )
  })

  const site = [{content: 'node default {}\n', path: 'manifests/site.pp'}]
  const big = {content: 'x'.repeat(200_000), path: 'modules/big.txt'}
  for (const [name, bytes, reason] of [
    ['an uncompressed tar', () => craftTar(site), /is not gzip-compressed/],
    [
      'two gzip members',
      () => Buffer.concat([craftArchive(site), gzipSync(Buffer.alloc(1024))]),
      /bytes after its compressed data \(a second gzip member or trailing bytes\)/,
    ],
    [
      'trailing bytes after the gzip member',
      () => Buffer.concat([craftArchive(site), Buffer.from('trailing garbage')]),
      /after its compressed data/,
    ],
    [
      'trailing zero bytes after the gzip member',
      () => Buffer.concat([craftArchive(site), Buffer.alloc(64)]),
      /after its compressed data/,
    ],
    ['a gzip header with a file name', () => gzipWithName(craftTar(site)), /header flags 8/],
    ['a corrupt deflate stream', () => corrupt(craftArchive([...site, big])), /not a valid gzip stream|CRC-32/],
    [
      'a truncated gzip file',
      () => craftArchive([...site, big]).subarray(0, -40),
      /not a valid gzip stream|CRC-32|trailer/,
    ],
    [
      'a truncated tar inside a valid gzip member',
      () => gzipSync(craftTar([...site, big]).subarray(0, 100_000)),
      /the tar reader failed: .*Truncated input|Truncated input/,
    ],
    [
      'a decompression bomb (64 MiB of zeros signed as 1 MiB)',
      () => gzipSync(zeros(64 * 1024 * 1024)),
      /unpacks to more than the signed 1000000 bytes|more than the signed/,
    ],
  ] as const) {
    it(`${name}, validly signed, is refused with exit 20 and nothing reaches the disk`, async () => {
      stageBuild(appCache, 'production', bytes())
      // A hostile publisher with the key skips pupistry's own checks: the node must refuse on its own.
      const pushed = await world.cli('push', '-e', 'production', '--no-validate')
      assert.equal(pushed.code, 0, show(pushed))
      assertRefused(await world.cli('apply'), reason)
      const releases = path.join(path.dirname(world.puppetcode), 'pupistry-releases', 'production')
      assert.deepEqual(
        readdirSync(releases).filter((dir) => dir.startsWith('.')),
        [],
        'no download or staging directory is left',
      )
    })
  }
})

/** A tar holding one file of `size` zero bytes. */
function zeros(size: number): Buffer {
  const tar = craftTar([{content: '', path: 'zeros'}])
  const bytes = Buffer.alloc(512 + size + 1024)
  tar.copy(bytes, 0, 0, 512)
  bytes.write(size.toString(8).padStart(11, '0'), 124, 'ascii')
  // The header checksum covers the new size: computed with the checksum field as spaces.
  bytes.fill(' ', 148, 156)
  let sum = 0
  for (let index = 0; index < 512; index++) sum += bytes[index]
  bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii')
  return bytes
}

/** A gzip member whose header carries a file name (FNAME), which the format does not allow. */
function gzipWithName(data: Buffer): Buffer {
  const plain = gzipSync(data)
  const header = Buffer.from(plain.subarray(0, 10))
  header[3] = 8
  return Buffer.concat([header, Buffer.from('name\0'), plain.subarray(10)])
}

/** Flips bytes in the middle of the deflate data. */
function corrupt(archive: Buffer): Buffer {
  const copy = Buffer.from(archive)
  for (let index = Math.floor(copy.length / 2); index < Math.floor(copy.length / 2) + 8; index++) copy[index] ^= 0xff
  return copy
}
