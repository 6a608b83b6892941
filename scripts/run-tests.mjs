#!/usr/bin/env node
// Runs every test file of the core and the plugins with Node's test runner: scenario tests in test/,
// unit tests beside the code they test (src/**/*.test.ts).
// Usage: npm test [-- FILE_OR_FILTER ...]
import {spawnSync} from 'node:child_process'
import {readdirSync, statSync} from 'node:fs'
import path from 'node:path'

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const filters = process.argv.slice(2)

function testFiles(dir) {
  let found = []
  let entries = []
  try {
    entries = readdirSync(dir)
  } catch {
    return found
  }

  for (const name of entries.sort()) {
    const full = path.join(dir, name)
    if (name === 'node_modules' || name === 'fixtures') continue
    if (statSync(full).isDirectory()) found = found.concat(testFiles(full))
    else if (name.endsWith('.test.ts')) found.push(full)
  }

  return found
}

const plugins = readdirSync(path.join(root, 'plugins')).map((name) => path.join(root, 'plugins', name, 'test'))
let files = [path.join(root, 'test'), path.join(root, 'src'), ...plugins].flatMap(testFiles)
if (filters.length > 0) files = files.filter((file) => filters.some((filter) => file.includes(filter)))
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}

const concurrency = process.env.PUPISTRY_TEST_CONCURRENCY ?? '2'
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  {cwd: root, stdio: 'inherit'},
)
process.exit(result.status ?? 1)
