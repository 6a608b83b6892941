import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {nextDelay, scheduleOf} from '../src/agent/daemon.js'
import {parseSettings} from '../src/config/settings.js'
import {SettingsError} from '../src/errors.js'
import type {Runtime} from '../src/runtime.js'

const runtimeWith = (yaml: string) => ({settings: parseSettings(yaml, 'x.yaml')}) as unknown as Runtime

describe('the daemon schedule', () => {
  it('defaults as the Ruby tool: every 300 s, with a tenth of it as splay, Puppet every run, 60 s to stop', () => {
    assert.deepEqual(scheduleOf(runtimeWith('agent:\n  environment: production\n')), {
      interval: 300,
      minimal: false,
      splay: 30,
      stopTimeout: 60,
    })
    assert.deepEqual(
      scheduleOf(
        runtimeWith('agent:\n  daemon_frequency: 60\n  daemon_minimal: true\n  daemon_splay: 0\n  stop_timeout: 2m\n'),
      ),
      {
        interval: 60,
        minimal: true,
        splay: 0,
        stopTimeout: 120,
      },
    )
    assert.equal(
      scheduleOf(runtimeWith('agent: {}\n'), {minimal: true}).minimal,
      true,
      '--minimal does what daemon_minimal does',
    )
  })

  it(
    'waits the interval plus up to the splay, and backs off from 1/64 of the interval, doubling, up to ' +
      'the interval, in the upper half',
    () => {
      const schedule = {interval: 300, minimal: false, splay: 30, stopTimeout: 60}
      assert.equal(
        nextDelay(schedule, 0, () => 0),
        300,
      )
      assert.equal(
        nextDelay(schedule, 0, () => 1),
        330,
      )
      const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((failures) => nextDelay(schedule, failures, () => 1))
      assert.deepEqual(
        ceilings.map((value) => Math.round(value * 100) / 100),
        [4.69, 9.38, 18.75, 37.5, 75, 150, 300, 300, 300],
      )
      assert.equal(
        nextDelay(schedule, 3, () => 0),
        18.75 / 2,
      )
      assert.equal(
        nextDelay({...schedule, interval: 8}, 1, () => 1),
        1,
        'at least 1 s',
      )
    },
  )

  it('refuses a run_timeout of 0 and an unreadable duration, accepts a splay and stop_timeout of 0', () => {
    assert.throws(() => parseSettings('agent:\n  run_timeout: 0\n', 'x.yaml'), SettingsError)
    assert.throws(
      () => parseSettings('agent:\n  daemon_splay: soon\n', 'x.yaml'),
      /agent\.daemon_splay: expected a duration/,
    )
    assert.equal(
      parseSettings('agent:\n  daemon_splay: 0\n  stop_timeout: 0s\n  run_timeout: 2h\n', 'x.yaml').agent.run_timeout,
      '2h',
    )
  })
})
