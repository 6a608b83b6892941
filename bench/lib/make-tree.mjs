#!/usr/bin/env node
// Writes a Puppet-like tree of a given size for the packing benchmark:
//
//   node make-tree.mjs DIR SIZE_MB
//
// About three quarters of the bytes are small text files (1-20 KB of
// manifest-like text, so they compress the way Puppet code does), the rest a
// few large files (1-10 MB of base64 text, which compresses far less).
// Everything comes from fixed seeds, so the same SIZE_MB gives the same bytes
// on every run and every machine, and figures from different runs compare.
// Prints one JSON line: {bytes, files, smallFiles, largeFiles}.
import {createCipheriv, createHash} from 'node:crypto'
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

const MB = 1024 * 1024
const KB = 1024
const SMALL_SHARE = 0.75
const FILES_PER_MODULE = 100
const POOL_BYTES = 8 * MB

const [dir, sizeArg] = process.argv.slice(2)
const sizeMb = Number(sizeArg)
if (!dir || !Number.isFinite(sizeMb) || sizeMb <= 0) {
  console.error('usage: make-tree.mjs DIR SIZE_MB')
  process.exit(2)
}

/** mulberry32: tiny, seeded and good enough to pick sizes, offsets and words. */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const random = prng(0x5eed)
const between = (low, high) => low + Math.floor(random() * (high - low + 1))
const pick = (list) => list[Math.floor(random() * list.length)]

function makeWords(count) {
  const syllables = [
    'ab',
    'al',
    'an',
    'ar',
    'be',
    'ca',
    'co',
    'de',
    'di',
    'el',
    'en',
    'er',
    'fi',
    'ge',
    'ha',
    'in',
    'io',
    'ka',
    'la',
    'li',
    'ma',
    'me',
    'na',
    'ne',
    'no',
    'or',
    'pa',
    'pu',
    're',
    'ri',
    'sa',
    'se',
    'si',
    'ta',
    'te',
    'ti',
    'to',
    'un',
    'va',
    'xe',
  ]
  const words = new Set()
  while (words.size < count) {
    let word = ''
    for (let i = between(2, 4); i > 0; i--) word += pick(syllables)
    words.add(word)
  }
  return [...words]
}

const words = makeWords(600)
const sentence = (count) => Array.from({length: count}, () => pick(words)).join(' ')

/** One block of manifest-like text; the pool is many of these. */
function block() {
  const name = pick(words)
  switch (between(0, 4)) {
    case 0:
      return `# ${sentence(between(6, 14))}\n# ${sentence(between(4, 12))}\n`
    case 1:
      return (
        `  file { '/etc/${name}/${pick(words)}.conf':\n    ensure  => file,\n` +
        `    owner   => '${pick(words)}',\n    mode    => '0644',\n` +
        `    content => epp('${name}/${pick(words)}.epp', {'${pick(words)}' => $${pick(words)}}),\n` +
        `    notify  => Service['${name}'],\n  }\n\n`
      )
    case 2:
      return `  package { '${name}-${pick(words)}':\n    ensure => '${between(0, 9)}.${between(0, 30)}.${between(0, 99)}',\n  }\n\n`
    case 3:
      return (
        `class ${name}::${pick(words)} (\n  String $${pick(words)} = '${pick(words)}',\n` +
        `  Integer $${pick(words)} = ${between(1, 65535)},\n  Boolean $${pick(words)} = ${random() < 0.5},\n) {\n` +
        `  include ${pick(words)}::${pick(words)}\n`
      )
    default:
      return `${name}::${pick(words)}: '${sentence(between(1, 4))}'\n${name}::${pick(words)}: ${between(0, 9999)}\n`
  }
}

function textPool() {
  const parts = []
  let size = 0
  while (size < POOL_BYTES) {
    const part = block()
    parts.push(part)
    size += part.length
  }
  return Buffer.from(parts.join(''), 'utf8')
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of a fixed key), written as base64 lines. */
function base64Text(index, size) {
  const key = createHash('sha256').update(`pupistry-bench-large-${index}`).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  const raw = cipher.update(Buffer.alloc(Math.ceil((size * 3) / 4) + 3))
  const encoded = raw.toString('base64').replace(/(.{76})/g, '$1\n')
  return Buffer.from(encoded.slice(0, size), 'latin1')
}

const kinds = [
  {dir: 'manifests', ext: 'pp'},
  {dir: 'templates', ext: 'epp'},
  {dir: 'lib/puppet/functions', ext: 'rb'},
  {dir: 'data', ext: 'yaml'},
  {dir: 'files', ext: 'conf'},
]

const root = path.resolve(dir)
const total = Math.round(sizeMb * MB)
const smallBudget = Math.round(total * SMALL_SHARE)
const pool = textPool()
const made = new Set()
function write(relative, content, mode = 0o644) {
  const file = path.join(root, relative)
  const parent = path.dirname(file)
  if (!made.has(parent)) {
    mkdirSync(parent, {recursive: true})
    made.add(parent)
  }
  writeFileSync(file, content)
  if (mode !== 0o644) chmodSync(file, mode)
}

let bytes = 0
let smallFiles = 0
while (bytes < smallBudget) {
  const size = Math.min(between(KB, 20 * KB), smallBudget - bytes)
  const offset = between(0, pool.length - size)
  const module = `site/mod${String(Math.floor(smallFiles / FILES_PER_MODULE)).padStart(4, '0')}`
  // A few executable scripts, as control repos have (config_version and the like).
  const kind = smallFiles % 97 === 0 ? {dir: 'scripts', ext: 'sh'} : kinds[smallFiles % kinds.length]
  write(
    `${module}/${kind.dir}/f${smallFiles}.${kind.ext}`,
    pool.subarray(offset, offset + size),
    kind.ext === 'sh' ? 0o755 : 0o644,
  )
  bytes += size
  smallFiles++
}

let largeFiles = 0
while (bytes < total) {
  const remaining = total - bytes
  const size = remaining < 2 * MB ? remaining : Math.min(between(MB, 10 * MB), remaining)
  write(`site/mod${String(largeFiles).padStart(4, '0')}/files/blob${largeFiles}.b64`, base64Text(largeFiles, size))
  bytes += size
  largeFiles++
}

console.log(JSON.stringify({bytes, files: smallFiles + largeFiles, largeFiles, smallFiles}))
