#!/usr/bin/env node
// Packs a tree with pupistry's own packer (the build's code path), so the
// benchmark measures exactly what `pupistry build` runs:
//
//   node pack-tree.mjs DIR OUT.tar.gz
//
// Prints one JSON line: the packer's result plus packMs, the time spent in
// packTree alone (without Node's start-up and module loading).
import {performance} from 'node:perf_hooks'

const [dir, out] = process.argv.slice(2)
if (!dir || !out) {
  console.error('usage: pack-tree.mjs DIR OUT.tar.gz')
  process.exit(2)
}

const {packTree} = await import(new URL('../../dist/artifact/pack.js', import.meta.url).href)
const started = performance.now()
const result = await packTree(dir, out)
const packMs = performance.now() - started
console.log(JSON.stringify({...result, packMs, skipped: result.skipped?.length ?? 0}))
