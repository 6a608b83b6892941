import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {VerificationError} from '../errors.js'
import {formatLegacyManifest, parseLegacyManifest, parseLegacyName} from './layout.js'

const V = '0123456789abcdef0123456789abcdef'
const parse = (text: string) => parseLegacyManifest(Buffer.from(text, 'utf8'), 'manifest.latest.yaml')

describe('the Ruby layout pointer', () => {
  it('reads what the Ruby tool wrote: a block of base64 lines, an unquoted date', () => {
    const sig = Buffer.alloc(100, 7)
    const lines = sig
      .toString('base64')
      .match(/.{1,60}/g)!
      .map((line) => `  ${line}`)
    const text = `---\nversion: ${V}\ndate: 2016-05-01 10:00:00.000000000 +12:00\nbuilduser: ops\ngpgsig: |\n${lines.join('\n')}\n`
    const manifest = parse(text)
    assert.equal(manifest.version, V)
    assert.equal(manifest.date, '2016-05-01 10:00:00.000000000 +12:00')
    assert.deepEqual(manifest.signature, sig)
  })

  it('round-trips what pupistry writes, signed or not', () => {
    const signed = {builduser: 'root', date: '2026-11-29 19:30:00 +0000', signature: Buffer.from('sig'), version: V}
    assert.deepEqual(parse(formatLegacyManifest(signed)), signed)
    const digits = '01234567890123456789012345678901'
    const unsigned = parse(formatLegacyManifest({...signed, signature: undefined, version: digits}))
    assert.equal(unsigned.signature, undefined)
    assert.equal(unsigned.version, digits, 'an all-digit MD5 stays a string')
  })

  for (const [what, text] of [
    ['a second line in a block', `version: |\n  ${V}\n  ; rm -rf /\ngpgsig: unsigned\n`],
    ['a trailing newline', `version: "${V}\\n"\ngpgsig: unsigned\n`],
    ['upper case', `version: ${V.toUpperCase()}\ngpgsig: unsigned\n`],
    ['a short version', `version: ${V.slice(1)}\ngpgsig: unsigned\n`],
    ['a list', `version: [${V}]\ngpgsig: unsigned\n`],
    ['no version', 'gpgsig: unsigned\n'],
    ['no gpgsig', `version: ${V}\n`],
    ['a key the Ruby tool never wrote', `version: ${V}\ngpgsig: unsigned\nurl: http://x\n`],
    ['a duplicated key', `version: ${V}\nversion: ${V}\ngpgsig: unsigned\n`],
    ['a signature that is not base64', `version: ${V}\ngpgsig: not base64!\n`],
    ['not a mapping', `- ${V}\n`],
    ['an oversized file', `version: ${V}\ngpgsig: unsigned\nbuilduser: ${'x'.repeat(70_000)}\n`],
  ]) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parse(text), VerificationError)
    })
  }

  it('knows the versioned names, and nothing else, as prunable', () => {
    assert.deepEqual(parseLegacyName(`artifact.${V}.tar.gz`), {kind: 'artifact', version: V})
    assert.deepEqual(parseLegacyName(`manifest.${V}.yaml`), {kind: 'manifest', version: V})
    for (const name of [
      'manifest.latest.yaml',
      'ABCD.publickey',
      `pupistry/x/artifact.${V}.tar.gz`,
      `manifest.${V}.yaml.bak`,
    ])
      assert.equal(parseLegacyName(name), undefined, name)
  })
})
