#!/usr/bin/env node
// Makes an environment tree of incompressible files (fixed seed, so every run
// has the same bytes), packs it with pupistry's own packer and records it in
// a build cache as `pupistry build` would, so `pupistry push` publishes it.
//
//   node stage-artifact.mjs APP_CACHE ENVIRONMENT SIZE_MB WORKDIR
//
// Prints one JSON line: {sha256, size, files, unpackedSize, file}.
import {createCipheriv} from 'node:crypto'
import {mkdirSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

const [appCache, environment, sizeArg, work] = process.argv.slice(2)
const sizeMb = Number(sizeArg)
if (!appCache || !environment || !work || !Number.isFinite(sizeMb) || sizeMb <= 0) {
  console.error('usage: stage-artifact.mjs APP_CACHE ENVIRONMENT SIZE_MB WORKDIR')
  process.exit(2)
}

const MB = 1024 * 1024
const FILE_MB = 10
const tree = path.join(work, 'tree')
rmSync(tree, {force: true, recursive: true})
mkdirSync(path.join(tree, 'manifests'), {recursive: true})
writeFileSync(path.join(tree, 'manifests', 'site.pp'), 'node default {}\n')
mkdirSync(path.join(tree, 'files'))
// AES-CTR over zeros: random-looking bytes (gzip cannot shrink them) from a fixed key.
const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0))
for (let written = 0, index = 0; written < sizeMb * MB; index++) {
  const bytes = Math.min(FILE_MB * MB, sizeMb * MB - written)
  writeFileSync(
    path.join(tree, 'files', `blob-${String(index).padStart(3, '0')}.bin`),
    cipher.update(Buffer.alloc(bytes)),
  )
  written += bytes
}

const {packTree} = await import(new URL('../../dist/artifact/pack.js', import.meta.url).href)
const out = path.join(work, 'artifact.tar.gz')
const packed = await packTree(tree, out)
rmSync(tree, {force: true, recursive: true})

const dir = path.join(appCache, 'build', environment)
mkdirSync(dir, {recursive: true})
const file = path.join(dir, `${packed.sha256}.tar.gz`)
rmSync(file, {force: true})
renameSync(out, file)
const record = {
  artifact: {
    files: packed.files,
    key: `pupistry/${environment}/artifacts/${packed.sha256}.tar.gz`,
    sha256: packed.sha256,
    size: packed.size,
    unpacked_size: packed.unpackedSize,
  },
  build: {assembler: 'bench', commit: null, host: 'bench', modules: {}, tools: {}, user: 'bench'},
  built: new Date().toISOString(),
  environment,
  format: 1,
  version: packed.sha256,
}
writeFileSync(path.join(dir, 'build.json'), JSON.stringify(record, null, 2))
writeFileSync(path.join(appCache, 'build', 'index.json'), JSON.stringify({environments: [environment]}))
console.log(
  JSON.stringify({
    file,
    files: packed.files,
    sha256: packed.sha256,
    size: packed.size,
    unpackedSize: packed.unpackedSize,
  }),
)
