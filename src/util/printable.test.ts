import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {printable, printableJson} from './printable.js'

describe('printable', () => {
  it('leaves ordinary text, tabs and non-ASCII letters alone', () => {
    assert.equal(printable('serial 3 (ab12cd) für café\tok'), 'serial 3 (ab12cd) für café\tok')
  })

  it('shows escape sequences, carriage returns, DEL and C1 controls as visible escapes', () => {
    assert.equal(printable('\u001B[2Kgone\rfake\u007F\u009B'), '\\x1b[2Kgone\\x0dfake\\x7f\\x9b')
  })

  it('shows bidirectional overrides as escapes', () => {
    assert.equal(printable('a\u202Eb\u2066c'), 'a\\u202eb\\u2066c')
  })

  it('indents the line after a newline, so stored text cannot start a line of its own', () => {
    assert.equal(printable('one\npupistry: error: forged'), 'one\n  pupistry: error: forged')
  })

  it('escapes newlines and tabs too for one-line cells', () => {
    assert.equal(printable('a\nb\tc', {oneLine: true}), 'a\\nb\\tc')
  })
  it('printableJson escapes what JSON.stringify leaves raw, and reads back as the same value', () => {
    const value = {message: 'a\u202Eb\u007F\u001B[2K'}
    const line = printableJson(value)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: these are what must not come through
    assert.doesNotMatch(line, /[\u001B\u007F\u202E]/)
    assert.deepEqual(JSON.parse(line), value)
  })
})
