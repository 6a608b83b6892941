import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {colorFor, progressFor} from './terminal.js'

const tty = {isTTY: true}
const pipe = {isTTY: false}

describe('terminal decisions', () => {
  it('colours a terminal unless NO_COLOR or TERM=dumb; FORCE_COLOR decides over both, also in a pipe', () => {
    assert.equal(colorFor(tty, {TERM: 'xterm-256color'}), true)
    assert.equal(colorFor(pipe, {}), false)
    assert.equal(colorFor(tty, {NO_COLOR: '1'}), false)
    assert.equal(colorFor(tty, {NO_COLOR: ''}), true, 'NO_COLOR counts only when it has a value')
    assert.equal(colorFor(tty, {TERM: 'dumb'}), false)
    assert.equal(colorFor(pipe, {FORCE_COLOR: '1'}), true)
    assert.equal(colorFor(pipe, {FORCE_COLOR: ''}), true)
    assert.equal(colorFor(tty, {FORCE_COLOR: '1', NO_COLOR: '1', TERM: 'dumb'}), true)
    assert.equal(colorFor(tty, {FORCE_COLOR: '0'}), false)
    assert.equal(colorFor(tty, {FORCE_COLOR: 'false'}), false)
  })

  it('shows progress on a terminal only, without --json, whatever the colour settings', () => {
    assert.equal(progressFor(tty, {env: {NO_COLOR: '1'}}), true)
    assert.equal(progressFor(tty, {env: {FORCE_COLOR: '0'}}), true)
    assert.equal(progressFor(pipe, {env: {FORCE_COLOR: '1'}}), false)
    assert.equal(progressFor(tty, {env: {}, json: true}), false)
    assert.equal(progressFor(tty, {env: {TERM: 'dumb'}}), false)
  })
})
