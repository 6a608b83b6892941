#!/usr/bin/env node
// Long fuzz run of the store readers: the properties of test/fuzz.test.ts with many more cases.
// Usage: node bench/fuzz.mjs [--runs 100000] [--seed N]   (runs are split across the five readers)
import {rmSync} from 'node:fs'
import {parseArgs} from 'node:util'

import {register} from 'tsx/esm/api'

register()
const {default: fc} = await import('fast-check')
const {fuzzTargets, tempWorkdir} = await import('../test/helpers/fuzz.ts')

const {values} = parseArgs({options: {runs: {default: '100000', type: 'string'}, seed: {type: 'string'}}})
const runs = Number(values.runs)
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed)
const workdir = tempWorkdir()
const targets = fuzzTargets(workdir)
let failed = 0
let total = 0
const started = performance.now()
for (const target of targets) {
  const numRuns = Math.ceil(runs / targets.length)
  const t0 = performance.now()
  const details = await fc.check(target.property, {numRuns, seed})
  total += details.numRuns
  const took = ((performance.now() - t0) / 1000).toFixed(1)
  if (details.failed) {
    failed++
    const cause = details.errorInstance?.cause ?? details.errorInstance
    const where = `seed ${details.seed} path ${details.counterexamplePath}`
    console.log(`${target.name}: FAILED after ${details.numRuns} cases in ${took} s; ${where}`)
    console.log(
      `  ${String(cause?.message ?? cause)
        .split('\n')[0]
        .slice(0, 300)}`,
    )
  } else console.log(`${target.name}: ${details.numRuns} cases passed in ${took} s`)
}

rmSync(workdir, {force: true, recursive: true})
console.log(
  `total: ${total} cases in ${((performance.now() - started) / 1000).toFixed(1)} s, seed ${seed}, ${failed} failing reader(s)`,
)
process.exitCode = failed ? 1 : 0
