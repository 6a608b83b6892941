import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'
import * as tar from 'tar'

// The built packer: its tar thread runs dist/artifact/pack-worker.js, which tsx's loader does not serve from src/.
import {ARTIFACT_MTIME, packTree} from '../dist/artifact/pack.js'
import {indexArchive} from '../src/artifact/read-archive.js'
import {symlinkProblem} from '../src/artifact/tree.js'
import {unpackArtifact} from '../src/artifact/unpack.js'
import {craftArchive} from './helpers/craft.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-artifact-'))
after(() => rmSync(scratch, {force: true, recursive: true}))

/** A small Puppet-like tree; `stamp` sets every mtime, `umask`-like modes vary by copy. */
function makeTree(dir: string, options: {stamp: Date; groupWritable?: boolean}): void {
  const files: Record<string, string> = {
    Puppetfile: "mod 'x'\n",
    'data/common.yaml': 'a: 1\n',
    'manifests/site.pp': 'node default {}\n',
    'modules/hello/manifests/init.pp': 'class hello {}\n',
    'scripts/config_version.sh': '#!/bin/sh\necho v\n',
    '.git/HEAD': 'ref: refs/heads/production\n',
    'modules/hello/.git': 'gitdir: /somewhere\n',
    '.r10k-deploy.json': `{"started_at": "${options.stamp.toISOString()}"}`,
  }
  // Creation order differs between copies; the archive order must not.
  const names = Object.keys(files)
  if (options.groupWritable) names.reverse()
  for (const name of names) {
    const file = path.join(dir, name)
    mkdirSync(path.dirname(file), {recursive: true})
    writeFileSync(file, files[name])
    chmodSync(file, options.groupWritable ? 0o664 : 0o644)
  }

  chmodSync(path.join(dir, 'scripts/config_version.sh'), options.groupWritable ? 0o775 : 0o700)
  mkdirSync(path.join(dir, 'modules/empty'), {recursive: true})
  symlinkSync('../hello/manifests', path.join(dir, 'modules/empty/link'))
  for (const name of [
    ...names,
    'modules/empty',
    'modules/empty/link',
    'scripts',
    'manifests',
    'data',
    'modules',
    'modules/hello',
    '.',
  ]) {
    try {
      utimesSync(path.join(dir, name), options.stamp, options.stamp)
    } catch {}
  }
}

describe('deterministic artifacts', () => {
  it('the same tree in two directories, with other mtimes, creation order and umask, gives identical bytes', async () => {
    const a = path.join(scratch, 'a')
    const b = path.join(scratch, 'elsewhere', 'b')
    makeTree(a, {stamp: new Date('2021-03-04T05:06:07Z')})
    makeTree(b, {groupWritable: true, stamp: new Date('2025-12-31T23:59:59Z')})
    const first = await packTree(a, path.join(scratch, 'a.tar.gz'))
    const second = await packTree(b, path.join(scratch, 'b.tar.gz'))
    assert.equal(first.sha256, second.sha256)
    assert.deepEqual(readFileSync(path.join(scratch, 'a.tar.gz')), readFileSync(path.join(scratch, 'b.tar.gz')))
  })

  it('leaves out .git and .r10k-deploy.json, sorts entries, normalises owners, times and modes', async () => {
    const entries = await indexArchive(path.join(scratch, 'a.tar.gz'))
    const names = [...entries.keys()]
    assert.ok(
      !names.some((name) => name.split('/').includes('.git') || name.endsWith('.r10k-deploy.json')),
      names.join('\n'),
    )
    assert.deepEqual(
      names,
      [...names].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
    )
    assert.equal(entries.get('scripts/config_version.sh')?.mode, 0o755, 'exec bit kept')
    assert.equal(entries.get('manifests/site.pp')?.mode, 0o644)
    assert.equal(entries.get('modules/empty')?.type, 'Directory')
    assert.equal(entries.get('modules/empty/link')?.type, 'SymbolicLink')
    const listing = execFileSync('tar', ['-tvzf', path.join(scratch, 'a.tar.gz')], {encoding: 'utf8'})
    for (const line of listing.trim().split('\n'))
      assert.match(line, /^[-dl]rw[-x]r-[-x]r-[-x] 0\/0 .* (2000|1970)-01-01 00:00 /, line)
  })

  it('packs in two threads to the same bytes as node-tar and gzip in one, however the stream is cut', async () => {
    // Larger than the ring between the threads, with files of every size around a slot's.
    const dir = path.join(scratch, 'large')
    // Hex text: compressible like source code, and different everywhere, so deflate finds matches across slots.
    const bytes = (length: number) =>
      Buffer.from(
        randomBytes(Math.ceil(length / 2))
          .toString('hex')
          .slice(0, length),
      )
    const sizes = [0, 1, 511, 512, 513, 65_536, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 5_000_000, 9 << 20]
    for (const [index, length] of sizes.concat(Array.from({length: 300}, (_, i) => (i * 977) % 20_000)).entries()) {
      mkdirSync(path.join(dir, `d${index % 7}`), {recursive: true})
      writeFileSync(path.join(dir, `d${index % 7}`, `f${index}.txt`), bytes(length))
    }
    const ours = path.join(scratch, 'large-ours.tar.gz')
    const packed = await packTree(dir, ours)
    const reference = path.join(scratch, 'large-reference.tar.gz')
    const entries = execFileSync('find', ['.', '-mindepth', '1'], {cwd: dir, encoding: 'utf8'})
      .trim()
      .split('\n')
      .map((entry) => entry.slice(2))
      .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
    tar.c(
      {
        cwd: dir,
        file: reference,
        gzip: {level: 6},
        mtime: ARTIFACT_MTIME,
        noDirRecurse: true,
        portable: true,
        sync: true,
      },
      entries,
    )
    assert.ok(packed.unpackedSize > 16 << 20, `more than twice the 8 MiB ring (${packed.unpackedSize} bytes)`)
    assert.deepEqual(readFileSync(ours), readFileSync(reference))
    assert.equal(packed.size, readFileSync(ours).length)
    assert.equal(packed.sha256, createHash('sha256').update(readFileSync(ours)).digest('hex'))
  })

  it('fails on a file it cannot read, naming it, and leaves no thread behind', () => {
    // Root reads anything: without the capabilities that let it, a 0000 file is unreadable to root too.
    const dir = path.join(scratch, 'unreadable')
    mkdirSync(path.join(dir, 'modules/x'), {recursive: true})
    writeFileSync(path.join(dir, 'modules/x/a.pp'), 'class x {}\n')
    writeFileSync(path.join(dir, 'modules/x/secret.pp'), 'class x::secret {}\n', {mode: 0o000})
    const script = `import(${JSON.stringify(new URL('../dist/artifact/pack.js', import.meta.url).href)})
      .then(({packTree}) => packTree(process.argv[1], process.argv[2]))
      .then(() => console.log('packed'), (error) => console.log(error.message))`
    const caps = '-dac_override,-dac_read_search'
    const out = path.join(scratch, 'unreadable.tar.gz')
    const said = execFileSync(
      'setpriv',
      [`--inh-caps=${caps}`, `--bounding-set=${caps}`, process.execPath, '-e', script, dir, out],
      {encoding: 'utf8', timeout: 30_000},
    )
    assert.equal(said, `cannot read ${path.join(dir, 'modules/x/secret.pp')}: permission denied (EACCES)\n`)
  })

  it('stores a file with several hard links whole, never as a hardlink entry', async () => {
    const dir = path.join(scratch, 'linked')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'one'), 'same\n')
    linkSync(path.join(dir, 'one'), path.join(dir, 'two'))
    await packTree(dir, path.join(scratch, 'linked.tar.gz'))
    const entries = await indexArchive(path.join(scratch, 'linked.tar.gz'))
    assert.equal(entries.get('two')?.type, 'File')
    assert.equal(entries.get('two')?.sha256, entries.get('one')?.sha256)
  })

  it('refuses to pack a symlink that leaves the tree', async () => {
    const dir = path.join(scratch, 'escaping')
    mkdirSync(dir)
    symlinkSync('/etc/passwd', path.join(dir, 'passwd'))
    await assert.rejects(packTree(dir, path.join(scratch, 'escaping.tar.gz')), /symlink to absolute path \/etc\/passwd/)
  })

  it('round-trips through the confined unpacker with modes and links', async () => {
    const dest = path.join(scratch, 'unpacked')
    mkdirSync(dest)
    await unpackArtifact(path.join(scratch, 'a.tar.gz'), dest, {unpackedSize: 10_000})
    assert.equal(readFileSync(path.join(dest, 'manifests/site.pp'), 'utf8'), 'node default {}\n')
    assert.equal(readFileSync(path.join(dest, 'modules/empty/link/init.pp'), 'utf8'), 'class hello {}\n')
    execFileSync(path.join(dest, 'scripts/config_version.sh'))
  })

  it('refuses a gzip member that holds another gzip stream, which node-tar would inflate outside the byte budget', async () => {
    const nested = path.join(scratch, 'nested.tar.gz')
    writeFileSync(nested, gzipSync(craftArchive([{content: 'node default {}\n', path: 'manifests/site.pp'}])))
    const dest = path.join(scratch, 'nested')
    mkdirSync(dest)
    await assert.rejects(
      unpackArtifact(nested, dest, {unpackedSize: 10_000}),
      /the gzip member holds another gzip stream, not a tar/,
    )
  })

  it('refuses an archive that unpacks to more than signed', async () => {
    const dest = path.join(scratch, 'bomb')
    mkdirSync(dest)
    await assert.rejects(
      unpackArtifact(path.join(scratch, 'a.tar.gz'), dest, {unpackedSize: 10}),
      /unpacks to more than the signed 10 bytes/,
    )
  })
})

describe('the symlink rule', () => {
  for (const [link, target, ok] of [
    ['a/b/link', '../c', true],
    ['a/b/link', '../../c', true],
    ['a/b/link', '../../../c', false],
    ['link', '..', false],
    ['a/link', 'x/../../..', false],
    ['a/link', 'c/../x', false],
    ['a/link', '/etc', false],
    ['a/link', './x/y', true],
  ] as const) {
    it(`${link} -> ${target} is ${ok ? 'allowed' : 'refused'}`, () => {
      assert.equal(symlinkProblem(link, target) === undefined, ok)
    })
  }
})
