import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {createMeter} from './progress.js'

describe('progress meter', () => {
  it('shows percentage, size, rate and time left in human units, redrawing one line', () => {
    let clock = 0
    const written: string[] = []
    const meter = createMeter(
      (text) => written.push(text),
      'Uploading production',
      200 * 1024 * 1024,
      () => clock,
    )
    clock = 1000
    meter.advance(50 * 1024 * 1024)
    clock = 1100
    meter.advance(1024 * 1024) // too soon after the last redraw: counted, not drawn
    clock = 2000
    meter.advance(49 * 1024 * 1024)
    clock = 4000
    meter.advance(100 * 1024 * 1024)
    meter.done()
    assert.deepEqual(written, [
      '\rUploading production: 25% of 200.0 MiB, 50.0 MiB/s, 3s left',
      '\rUploading production: 50% of 200.0 MiB, 50.0 MiB/s, 2s left',
      // The shorter line covers what is left of the longer one before it.
      `\rUploading production: 100% of 200.0 MiB, 50.0 MiB/s${' '.repeat(', 2s left'.length - '1'.length)}`,
      '\rUploading production: 100% of 200.0 MiB, 50.0 MiB/s\n',
    ])
  })

  it('says minutes and hours for long work, and nothing about speed before any time has passed', () => {
    let clock = 0
    const written: string[] = []
    const meter = createMeter(
      (text) => written.push(text),
      'Packing x',
      10 * 1024 ** 3,
      () => clock,
    )
    meter.advance(0)
    clock = 10_000
    meter.advance(10 * 1024 ** 2)
    clock = 20_000
    meter.advance(1000 * 1024 ** 2)
    assert.equal(written[0], '\rPacking x: 0% of 10.0 GiB')
    assert.match(written[1], /: 0% of 10\.0 GiB, 1\.0 MiB\/s, 2h50m left\s*$/)
    assert.match(written[2], /: 9% of 10\.0 GiB, 50\.5 MiB\/s, 3m03s left\s*$/)
  })
})
