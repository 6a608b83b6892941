import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {formatPrometheus} from '../src/formatters/prometheus.js'
import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

interface ParsedSample {
  name: string
  labels: Record<string, string>
  value: number
}

/**
 * A strict reader of Prometheus' text exposition format (0.0.4): HELP and
 * TYPE lines, then samples `name{label="value",...} number`, with the
 * format's escapes. Anything else fails, so output that parses here is what
 * a textfile collector accepts.
 */
function parseExposition(text: string): {types: Map<string, string>; samples: ParsedSample[]} {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline')
  const types = new Map<string, string>()
  const samples: ParsedSample[] = []
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*'
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = new RegExp(`^# (HELP|TYPE) (${name}) (.*)$`).exec(line)
    if (comment) {
      if (comment[1] === 'TYPE') {
        assert.match(comment[3], /^(counter|gauge|histogram|summary|untyped)$/, line)
        assert.ok(!types.has(comment[2]), `TYPE given twice: ${line}`)
        types.set(comment[2], comment[3])
      }

      continue
    }

    const sample = new RegExp(`^(${name})(?:\\{(.*)\\})? (\\S+)$`).exec(line)
    assert.ok(sample, `not a sample line: ${JSON.stringify(line)}`)
    assert.ok(types.has(sample[1]), `sample before its TYPE: ${line}`)
    const labels: Record<string, string> = {}
    const labelText = sample[2] ?? ''
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y
    while (label.lastIndex < labelText.length) {
      const match = label.exec(labelText)
      assert.ok(match, `bad labels: ${labelText}`)
      labels[match[1]] = match[2].replace(/\\([\\"n])/g, (_, c: string) => (c === 'n' ? '\n' : c))
    }

    const value = Number(sample[3])
    assert.ok(!Number.isNaN(value) || sample[3] === 'NaN', `bad value: ${line}`)
    samples.push({labels, name: sample[1], value})
  }

  return {samples, types}
}

describe('status --format prometheus', () => {
  let world: World
  before(async () => {
    world = await World.create({agent: {channel: 'canary'}})
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '--channel', 'canary'],
      ['apply', '--minimal'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }
  })
  after(() => world.cleanup())

  it("writes the node's own state in the text exposition format, which parses", async () => {
    const result = await world.cli('status', '--format', 'prometheus')
    assert.equal(result.code, 0, show(result))
    const {samples, types} = parseExposition(result.stdout)
    assert.equal(types.get('pupistry_installed_serial'), 'gauge')
    const value = (metric: string) => samples.find((sample) => sample.name === metric)
    assert.deepEqual(value('pupistry_installed_serial'), {
      labels: {channel: 'canary', environment: 'production'},
      name: 'pupistry_installed_serial',
      value: 1,
    })
    assert.equal(value('pupistry_last_run_exit_code')?.value, 0)
    assert.equal(value('pupistry_pinned')?.value, 0)
    assert.match(value('pupistry_release_info')?.labels.version ?? '', /^[0-9a-f]{64}$/)
    const ran = value('pupistry_last_run_timestamp_seconds')?.value ?? 0
    assert.ok(Math.abs(ran - Date.now() / 1000) < 600, `last run ${ran}`)
  })

  it('escapes label values so any text round-trips', () => {
    const nasty = 'a "quoted" \\ back\nslash'
    const text = formatPrometheus([
      {help: 'help with \\ and\nnewline', name: 'm', samples: [{labels: {v: nasty}, value: 2}], type: 'gauge'},
    ])
    assert.deepEqual(parseExposition(text).samples, [{labels: {v: nasty}, name: 'm', value: 2}])
  })

  it('the parser refuses what a collector would refuse', () => {
    assert.throws(() => parseExposition('# TYPE a gauge\na{x="1} 1\n'))
    assert.throws(() => parseExposition('a 1\n'))
    assert.throws(() => parseExposition('# TYPE a gauge\na one\n'))
    assert.deepEqual(parseExposition('# TYPE a gauge\na{x="q\\"\\\\\\n"} 1\n').samples[0].labels, {x: 'q"\\\n'})
  })
})
