import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {cohortPlace, inCohort} from './rollout.js'

const NODES = Array.from({length: 10_000}, (_, index) => `node-${index}`)
const RELEASE_A = 'a'.repeat(64)
const RELEASE_B = 'b'.repeat(64)

const members = (version: string, percent: number) => NODES.filter((node) => inCohort(version, node, percent))

describe('rollout cohort', () => {
  it('takes within ±2 % of the percentage of 10,000 node ids', () => {
    for (const percent of [0, 1, 5, 10, 25, 50, 75, 90, 99]) {
      const share = (members(RELEASE_A, percent).length / NODES.length) * 100
      assert.ok(Math.abs(share - percent) <= 2, `${percent} %: ${share} %`)
    }

    assert.equal(members(RELEASE_A, 0).length, 0)
    assert.equal(members(RELEASE_A, 100).length, NODES.length)
  })

  it('is monotone: a node in the cohort stays in it as the percentage grows', () => {
    let before = new Set<string>()
    for (const percent of [1, 5, 10, 20, 50, 80, 100]) {
      const now = new Set(members(RELEASE_A, percent))
      for (const node of before) assert.ok(now.has(node), `${node} left the cohort at ${percent} %`)
      before = now
    }
  })

  it('reshuffles per release', () => {
    const a = new Set(members(RELEASE_A, 10))
    const b = members(RELEASE_B, 10)
    const both = b.filter((node) => a.has(node)).length
    // Independent 10 % samples share about 1 % of the nodes, not 10 %.
    assert.ok(both < 200, `${both} nodes are in both cohorts`)
  })

  it('is deterministic', () => {
    assert.equal(cohortPlace(RELEASE_A, 'node-1'), cohortPlace(RELEASE_A, 'node-1'))
  })
})
