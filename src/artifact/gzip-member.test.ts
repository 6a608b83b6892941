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
