import {rmSync} from 'node:fs'
import {after, describe, it} from 'node:test'

import fc from 'fast-check'

import {fuzzTargets, tempWorkdir} from './helpers/fuzz.js'

// Fixed, so a failure here is the same failure on every machine; bench/fuzz.mjs runs far more cases with any seed.
const SEED = 20261129
const RUNS = {archive: 300, default: 1500}

describe('fuzz: store readers refuse hostile bytes with typed errors, in bounded time, and accept only what was signed', () => {
  const workdir = tempWorkdir()
  after(() => rmSync(workdir, {force: true, recursive: true}))
  for (const target of fuzzTargets(workdir)) {
    it(target.name, async () => {
      await fc.assert(target.property, {numRuns: target.name === 'archive' ? RUNS.archive : RUNS.default, seed: SEED})
    })
  }
})
