import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {durationFlag} from '../src/cli/flags.js'
import {parseDuration} from '../src/config/duration.js'
import {durationSeconds, parseSettings} from '../src/config/settings.js'

/** Runs the flag's own parser as oclif does for `--flag VALUE`. */
async function parseFlag(input: string): Promise<number | undefined> {
  const flag = durationFlag()
  return flag.parse!(input, {} as never, flag as never)
}

describe('one duration parser for settings and flags', () => {
  it('reads seconds and the units s, m, h, d, w', () => {
    const cases: Array<[number | string, number]> = [
      [90, 90],
      ['90', 90],
      ['30s', 30],
      ['10m', 600],
      ['1h', 3600],
      [' 2 h ', 7200],
      ['7d', 604_800],
      ['2w', 1_209_600],
      ['0', 0],
    ]
    for (const [input, seconds] of cases) assert.equal(parseDuration(input), seconds, String(input))
    for (const input of ['soon', '1.5h', '-5m', '10 minutes', '1h30m', '', -1, 1.5]) {
      assert.equal(parseDuration(input), undefined, String(input))
    }
  })

  it('the flag and the settings agree on every value', async () => {
    for (const input of ['45', '30s', '10m', '1h', '7d', '2w']) {
      const settings = parseSettings(`general:\n  manifest_ttl: ${input}\n`, 'x.yaml')
      assert.equal(await parseFlag(input), durationSeconds(settings.general.manifest_ttl!), input)
    }
  })

  it('a bad flag value is an oclif usage error (exit 2) naming the value; a bad setting names its key', async () => {
    await assert.rejects(parseFlag('soon'), (error: Error & {oclif?: {exit?: number}}) => {
      assert.equal(error.oclif?.exit, 2)
      assert.match(error.message, /not a duration: soon/)
      return true
    })
    assert.throws(
      () => parseSettings('general:\n  manifest_ttl: soon\n', 'x.yaml'),
      /general\.manifest_ttl: expected a positive duration/,
    )
    assert.throws(
      () => parseSettings('general:\n  manifest_ttl: 0\n', 'x.yaml'),
      /general\.manifest_ttl: expected a positive duration/,
    )
  })
})
