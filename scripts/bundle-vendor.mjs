#!/usr/bin/env node
// Makes dist/vendor/yaml.js one file (why: src/vendor/yaml.ts), in place of the re-export tsc wrote there.
import {build} from 'esbuild'

const at = (relative) => new URL(relative, import.meta.url).pathname

await build({
  allowOverwrite: true,
  // yaml's CommonJS code requires Node's 'process' module, and an ES module has no require of its own.
  banner: {js: "import {createRequire} from 'node:module'; const require = createRequire(import.meta.url);"},
  bundle: true,
  entryPoints: [at('../src/vendor/yaml.ts')],
  format: 'esm',
  logLevel: 'warning',
  outfile: at('../dist/vendor/yaml.js'),
  platform: 'node',
  target: 'node20',
})
