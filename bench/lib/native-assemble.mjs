#!/usr/bin/env node
// Runs the native assembler alone (no packing, no CLI start-up), for the
// assembler benchmark, as `pupistry build` would create it:
//
//   node native-assemble.mjs CONTROL_URL CACHE_DIR [FORGE_URL]
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const [remote, cacheDir, forge, poolSize] = process.argv.slice(2)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const {NativeAssembler} = await import(path.join(root, 'plugins', 'native', 'dist', 'native-assembler.js'))
const quiet = () => {}
// BENCH_VERBOSE=1 shows the assembler's progress (with its phase timings) on stderr.
const progress = process.env.BENCH_VERBOSE ? (message) => process.stderr.write(`${message}\n`) : quiet
const assembler = new NativeAssembler({
  askSecret: async () => undefined,
  cacheDir,
  log: {info: quiet, progress, warn: quiet},
  settings: {
    agent: {},
    build: {
      puppetcode: remote,
      ...(forge ? {forge: {baseurl: forge}} : {}),
      ...(poolSize ? {pool_size: Number(poolSize)} : {}),
    },
    general: {},
  },
  side: 'build',
})
const environments = await assembler.assemble({})
console.log(
  environments.map((environment) => `${environment.name} ${Object.keys(environment.modules).length}`).join('\n'),
)
