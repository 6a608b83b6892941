#!/usr/bin/env node
import {readFileSync} from 'node:fs'

// `pupistry --version` is what fleet tooling runs most; answered before oclif
// loads (most of the start-up), in oclif's own words (test/cli-conventions.test.ts).
if (process.argv.length === 3 && process.argv[2] === '--version') {
  const {name, version} = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`${name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  const {execute, settings} = await import('@oclif/core')
  // Plugins run from their compiled JavaScript, linked ones too: pupistry never
  // compiles a plugin's TypeScript at run time (and oclif would warn on every
  // command that it cannot for an ESM plugin).
  settings.enableAutoTranspile = false
  await execute({dir: import.meta.url})
}
