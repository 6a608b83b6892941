import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {UsageError} from '../errors.js'
import {judgeFleetCheck, parseFleetCheck} from './fleet-check.js'

describe('fleet checks', () => {
  it('parse a channel and conditions', () => {
    assert.deepEqual(parseFleetCheck('canary:ok>=95%,age<=1h'), {
      channel: 'canary',
      maxAge: 3600,
      okPercent: 95,
      text: 'canary:ok>=95%,age<=1h',
    })
    assert.deepEqual(parseFleetCheck('ok>=100%'), {okPercent: 100, text: 'ok>=100%'})
    for (const bad of ['canary:', 'ok>95%', 'ok>=101%', 'age<=soon', 'Canary:ok>=1%', 'x'])
      assert.throws(() => parseFleetCheck(bad), UsageError, bad)
  })

  it('pass and fail as given', () => {
    const nodes = [
      {age: 60, channel: 'canary', flags: []},
      {age: 120, channel: 'canary', flags: []},
      {age: 7200, channel: 'canary', flags: ['stale']},
      {age: 30, channel: 'stable', flags: ['failing']},
    ]
    assert.equal(judgeFleetCheck(parseFleetCheck('canary:ok>=60%'), nodes).ok, true)
    const failed = judgeFleetCheck(parseFleetCheck('canary:ok>=95%,age<=1h'), nodes)
    assert.equal(failed.ok, false)
    assert.match(failed.detail, /2 of 3 nodes ok \(66\.7 % < 95 %\); 1 of 3 reports older than 3600 s/)
    assert.equal(judgeFleetCheck(parseFleetCheck('stable:ok>=1%'), nodes).ok, false)
    assert.match(judgeFleetCheck(parseFleetCheck('beta:ok>=1%'), nodes).detail, /no node of channel beta has reported/)
  })
})
