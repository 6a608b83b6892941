#!/usr/bin/env node
// Decompression bomb: a validly signed artifact of about 2 MB holding one
// file of 2 GiB of zeros, while its manifest claims 1 MiB unpacked. A node
// must refuse it (exit 20) with nothing on disk, and its peak memory must stay
// near that of a normal run. Prints the agent's peak RSS (/usr/bin/time -v)
// against two baselines measured in the same run: `node -e 0` and an apply of
// a small, normal release.
//
//   node bench/bomb.mjs
//
// Environment:
//   BOMB_GIB       GiB of zeros in the bomb (default 2)
//   PUPISTRY_BIN   the CLI to measure (default this checkout's bin/run.js), e.g. an older build to compare
//
// Exits non-zero when a command it needs fails, or when the bomb is not refused with exit 20.
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {fileURLToPath} from 'node:url'
import {createGzip} from 'node:zlib'

import {makeNodeWorld} from './lib/node-world.mjs'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = process.env.PUPISTRY_BIN ?? path.join(repo, 'bin', 'run.js')
const gib = Number(process.env.BOMB_GIB ?? 2)
if (!Number.isInteger(gib) || gib < 1 || gib > 7) {
  console.error(`bomb: BOMB_GIB must be a whole number from 1 to 7 (got '${process.env.BOMB_GIB}')`)
  process.exit(1)
}

let packTree
try {
  ;({packTree} = await import(new URL('../dist/artifact/pack.js', import.meta.url).href))
} catch {
  console.error(`bomb: dist/ is missing: run 'npm run build' in ${repo} first`)
  process.exit(1)
}

const tmp = mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), 'pupistry-bench-bomb-'))
process.on('exit', () => rmSync(tmp, {force: true, recursive: true}))
process.on('SIGINT', () => process.exit(130))
process.on('SIGTERM', () => process.exit(143))

const {appCache, pupistry, settingsFile} = makeNodeWorld(tmp, {
  bin,
  userId: 'Bomb bench <bomb@example.invalid>',
})

/** Records an artifact in the build cache as `pupistry build` would, then pushes it (signed, with the next serial). */
function publish(file, artifact) {
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex')
  const dir = path.join(appCache, 'build', 'production')
  mkdirSync(dir, {recursive: true})
  writeFileSync(path.join(dir, `${sha256}.tar.gz`), readFileSync(file))
  const record = {
    artifact: {
      files: artifact.files,
      key: `pupistry/production/artifacts/${sha256}.tar.gz`,
      sha256,
      size: statSync(file).size,
      unpacked_size: artifact.unpackedSize,
    },
    build: {assembler: 'bench', commit: null, host: 'bench', modules: {}, tools: {}, user: 'bench'},
    built: new Date().toISOString(),
    environment: 'production',
    format: 1,
    version: sha256,
  }
  writeFileSync(path.join(dir, 'build.json'), JSON.stringify(record, null, 2))
  writeFileSync(path.join(appCache, 'build', 'index.json'), JSON.stringify({environments: ['production']}))
  pupistry('push', '-e', 'production', '--no-validate')
}

/** Runs a command under /usr/bin/time -v: its exit code and peak resident set size in MB. */
function peak(command, args) {
  const result = spawnSync('/usr/bin/time', ['-v', command, ...args], {encoding: 'utf8'})
  if (result.error) throw result.error
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr)
  if (!kb) throw new Error(`no peak RSS from /usr/bin/time:\n${result.stderr}`)
  const exit = /Exit status: (\d+)/.exec(result.stderr)
  return {code: exit ? Number(exit[1]) : result.status, mb: Number(kb[1]) / 1024, stderr: result.stderr}
}

// A normal small release: a few hundred small files.
const tree = path.join(tmp, 'tree')
for (let module = 0; module < 10; module++) {
  mkdirSync(path.join(tree, 'modules', `m${module}`, 'manifests'), {recursive: true})
  for (let file = 0; file < 30; file++)
    writeFileSync(
      path.join(tree, 'modules', `m${module}`, 'manifests', `c${file}.pp`),
      `class m${module}::c${file} {}\n`,
    )
}

mkdirSync(path.join(tree, 'manifests'))
writeFileSync(path.join(tree, 'manifests', 'site.pp'), 'node default {}\n')
const small = path.join(tmp, 'small.tar.gz')
publish(small, await packTree(tree, small))

// The bomb: a tar header for one file of BOMB_GIB GiB, the zeros, the end blocks; gzip'd as a stream.
const size = gib * 1024 ** 3
const header = Buffer.alloc(512)
header.write('zeros', 0, 'ascii')
header.write('0000644\0', 100, 'ascii')
header.write('0000000\0', 108, 'ascii')
header.write('0000000\0', 116, 'ascii')
header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii')
header.write('07303000000\0', 136, 'ascii')
header.write('0', 156, 'ascii')
header.write('ustar\x0000', 257, 'binary')
header.fill(' ', 148, 156)
let sum = 0
for (const byte of header) sum += byte
header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii')
async function* bombTar() {
  yield header
  const zeros = Buffer.alloc(1024 * 1024)
  for (let written = 0; written < size; written += zeros.length) yield zeros
  yield Buffer.alloc(1024)
}

const bomb = path.join(tmp, 'bomb.tar.gz')
await pipeline(bombTar, createGzip({level: 9}), createWriteStream(bomb))

const baseline = peak(process.execPath, ['-e', '0'])
const normal = peak(process.execPath, [bin, 'apply', '--minimal', '--config', settingsFile])
if (normal.code !== 0) {
  console.error(`bomb: the normal apply failed (exit ${normal.code}):\n${normal.stderr}`)
  process.exit(1)
}

publish(bomb, {files: 1, unpackedSize: 1024 * 1024})
const started = Date.now()
const refused = peak(process.execPath, [bin, 'apply', '--minimal', '--config', settingsFile])
const seconds = (Date.now() - started) / 1000
const releases = path.join(tmp, 'code', 'pupistry-releases', 'production')
const leftovers = readdirSync(releases).filter((name) => name.startsWith('.'))
const reason = refused.stderr.split('\n').find((line) => line.startsWith('pupistry: error:')) ?? '(no error line)'
console.log(
  `bomb: ${statSync(bomb).size} bytes of gzip holding ${gib} GiB of zeros, signed as 1 MiB unpacked; CLI ${bin}`,
)
console.log(
  `bomb: peak RSS  node -e 0: ${baseline.mb.toFixed(0)} MB   normal small apply: ${normal.mb.toFixed(0)} ` +
    `MB   bomb apply: ${refused.mb.toFixed(0)} MB (${(refused.mb / normal.mb).toFixed(2)}× the normal apply)`,
)
console.log(`bomb: refused with exit ${refused.code} after ${seconds.toFixed(1)} s: ${reason}`)
console.log(`bomb: left in the releases directory: ${leftovers.length === 0 ? 'nothing' : leftovers.join(', ')}`)
console.log(
  `bomb: target: exit 20, nothing left, peak RSS within 2× the normal apply: ` +
    `${refused.code === 20 && leftovers.length === 0 && refused.mb <= 2 * normal.mb ? 'met' : 'NOT met'}`,
)
process.exitCode = refused.code === 20 ? 0 : 1
