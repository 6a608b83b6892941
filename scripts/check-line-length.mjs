#!/usr/bin/env node
// Fails when a tracked source line is longer than MAX characters. Biome formats the code at 120 columns but
// cannot break long string literals or comments, so this catches what it leaves behind.
// Prints `file:line: N characters` for each offending line and exits 1; prints nothing and exits 0 when clean.
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const MAX = 140

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tracked = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.mjs', '*.js'], {cwd: root, encoding: 'utf8'})
  .split('\0')
  .filter((file) => file !== '')

const excluded = (file) =>
  file.split('/').some((part) => part === 'node_modules' || part === 'dist') ||
  file.startsWith('test/snapshots/') ||
  (file.startsWith('test/fixtures/') && file.endsWith('.json'))

const problems = []
for (const file of tracked.filter((f) => !excluded(f))) {
  const lines = readFileSync(join(root, file), 'utf8').split(/\r?\n/)
  lines.forEach((line, index) => {
    const length = [...line].length
    if (length > MAX) problems.push(`${file}:${index + 1}: ${length} characters`)
  })
}

if (problems.length > 0) {
  console.log(problems.join('\n'))
  console.log(`${problems.length} line(s) longer than ${MAX} characters`)
  process.exit(1)
}
