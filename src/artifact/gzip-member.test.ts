import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {gzipSync} from 'node:zlib'

import {VerificationError} from '../errors.js'
import {gunzipMember} from './gzip-member.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-gzip-'))
after(() => rmSync(dir, {force: true, recursive: true}))

async function read(bytes: Uint8Array): Promise<Buffer> {
  const file = path.join(dir, `f-${Math.random().toString(16).slice(2)}`)
  writeFileSync(file, bytes)
  const chunks: Buffer[] = []
  for await (const chunk of gunzipMember(file)) chunks.push(chunk)
  return Buffer.concat(chunks)
}

describe('gunzipMember', () => {
  it('reads one plain gzip member', async () => {
    assert.equal((await read(gzipSync('hello'))).toString(), 'hello')
  })

  it('refuses a header and a trailer with nothing between them (found by the fuzz run) as a verification error', async () => {
    const header = gzipSync('').subarray(0, 10)
    await assert.rejects(read(Buffer.concat([header, Buffer.alloc(8)])), VerificationError)
  })
})

describe('gunzipMember with header fields (the Ruby tool’s `gzip FILE`)', () => {
  /** A gzip member whose header names a file and carries an extra field and a comment, as RFC 1952 allows. */
  function withFields(text: string): Buffer {
    const plain = gzipSync(text)
    const extra = Buffer.from([4, 0, 1, 2, 3, 4])
    const fields = Buffer.concat([extra, Buffer.from('artifact.temp.tar\0comment\0')])
    const header = Buffer.from(plain.subarray(0, 10))
    header[3] = 0x04 | 0x08 | 0x10
    return Buffer.concat([header, fields, plain.subarray(10)])
  }

  async function readWithFields(bytes: Uint8Array): Promise<Buffer> {
    const file = path.join(dir, `h-${Math.random().toString(16).slice(2)}`)
    writeFileSync(file, bytes)
    const chunks: Buffer[] = []
    for await (const chunk of gunzipMember(file, undefined, {headerFields: true})) chunks.push(chunk)
    return Buffer.concat(chunks)
  }

  it('skips them only when asked', async () => {
    assert.equal((await readWithFields(withFields('hello'))).toString(), 'hello')
    await assert.rejects(read(withFields('hello')), /has gzip header flags/)
  })

  it('still refuses reserved flags, a name without its end, and a second member', async () => {
    const reserved = Buffer.from(gzipSync('x'))
    reserved[3] = 0x20
    await assert.rejects(readWithFields(reserved), /reserved gzip header flags/)
    const unterminated = Buffer.from(gzipSync('x').subarray(0, 10))
    unterminated[3] = 0x08
    await assert.rejects(readWithFields(Buffer.concat([unterminated, Buffer.alloc(40, 65)])), VerificationError)
    await assert.rejects(readWithFields(Buffer.concat([withFields('a'), gzipSync('b')])), /after its compressed data/)
  })
})
