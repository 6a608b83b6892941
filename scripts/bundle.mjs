#!/usr/bin/env node
// The build's bundling step, after tsc: what a node loads on every check is made few files.
import {readFileSync, rmSync} from 'node:fs'

import {build} from 'esbuild'

const at = (relative) => new URL(relative, import.meta.url).pathname

// dist/vendor/yaml.js as one file (why: src/vendor/yaml.ts), in place of the re-export tsc wrote there.
await build({
  allowOverwrite: true,
  bundle: true,
  entryPoints: [at('../src/vendor/yaml.ts')],
  format: 'esm',
  logLevel: 'warning',
  outfile: at('../dist/vendor/yaml.js'),
  // yaml's ES module build (its "default" export condition; Node's condition picks CommonJS), which
  // the agent's bundle can shake down to what pupistry uses. It runs on Node as it is.
  platform: 'neutral',
  target: 'node20',
})

// dist/agent-bundle/: the agent's path (bin/run.js → lean apply), from the JavaScript tsc wrote. Loading its
// seventy-odd modules one by one cost more than the check with nothing new itself. Every module it may
// import, later ones too, is in here (split into chunks loaded when needed), so that no module is
// loaded twice, once bundled and once from its own file. Packages stay in node_modules, shared with
// plugins, except valibot: bundled, only the schema functions pupistry uses are compiled on each check.
// The workers are entries of their own, beside the chunks that start them by file name.
const {dependencies} = JSON.parse(readFileSync(at('../package.json'), 'utf8'))
const outdir = at('../dist/agent-bundle')
rmSync(outdir, {force: true, recursive: true})
await build({
  bundle: true,
  chunkNames: 'chunk-[hash]',
  entryNames: '[name]',
  entryPoints: ['agent-entry.js', 'cli/compile-cache.js', 'agent/unpack-worker.js', 'artifact/pack-worker.js'].map(
    (entry) => at(`../dist/${entry}`),
  ),
  format: 'esm',
  logLevel: 'warning',
  external: Object.keys(dependencies).filter((name) => name !== 'valibot'),
  outdir,
  platform: 'node',
  splitting: true,
  target: 'node20',
})
