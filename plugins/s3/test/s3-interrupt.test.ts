import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import type http from 'node:http'
import path from 'node:path'
import {writeFileSync} from 'node:fs'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {BIN, show} from '../../../test/helpers/cli.js'
import {type LocalS3, startS3} from '../../../test/helpers/s3.js'
import {World} from '../../../test/helpers/world.js'

const credentials = {access_key_id: 'S3RVER', secret_access_key: 'S3RVER', region: 'us-east-1'}

/** What S3 answers to ListMultipartUploads (s3rver does not implement it): one upload left by a killed push. */
const LISTING =
  '<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
  '<Bucket>fleet</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><IsTruncated>false</IsTruncated>' +
  '<Upload><Key>pupistry-test/pupistry/production/artifacts/abc.tar.gz</Key><UploadId>upload-1</UploadId>' +
  '<Initiated>2026-01-01T00:00:00.000Z</Initiated></Upload></ListMultipartUploadsResult>'

describe('an interrupted push to S3 aborts its multipart upload (s3rver on loopback)', () => {
  let s3: LocalS3
  let world: World
  const held: http.ServerResponse[] = []

  before(async () => {
    s3 = await startS3(['fleet'])
    world = await World.create({
      agent: {...credentials},
      build: {...credentials},
      general: {s3_endpoint: s3.endpoint, storage: 's3://fleet/pupistry-test'},
    })
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'blob.bin'), randomBytes(40 << 20)))
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
  })
  after(async () => {
    for (const response of held) response.destroy()
    world.cleanup()
    await s3.stop()
  })

  it('SIGTERM during a multipart upload: exit 24, one message, AbortMultipartUpload sent', async () => {
    // The second part never gets an answer: the upload is under way for as long as the test needs.
    s3.intercept = (request, response) => {
      if (request.method !== 'PUT' || !/[?&]partNumber=2\b/.test(request.url ?? '')) return false
      held.push(response)
      return true
    }
    const child = spawn(process.execPath, [BIN, 'push', '--config', world.settingsFile, '-v'], {
      env: {...process.env, NO_COLOR: '1'},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)))
    for (let waited = 0; held.length === 0 && waited < 60_000; waited += 50) await sleep(50)
    assert.ok(held.length > 0, `a part upload began: ${stderr}`)
    child.kill('SIGTERM')
    const code = await exited
    s3.intercept = undefined
    assert.equal(code, 24, stderr)
    assert.match(stderr, /^pupistry: error: interrupted: push stopped during production; /m)
    assert.equal(stderr.match(/pupistry: error:/g)?.length, 1, 'one message')
    // s3rver answers AbortMultipartUpload with 405 (not implemented there); what matters is that it was asked.
    assert.ok(
      s3.requests.some((request) =>
        /^DELETE \/fleet\/pupistry-test\/pupistry\/production\/artifacts\/.*uploadId=/.test(request),
      ),
      s3.requests.join('\n'),
    )
    assert.ok(!s3.requests.some((request) => /^PUT .*latest\.json/.test(request)), 'no pointer was written')
  })

  it('doctor reports unfinished multipart uploads under the prefix', async () => {
    s3.intercept = (request, response) => {
      if (request.method !== 'GET' || !/[?&]uploads\b/.test(request.url ?? '')) return false
      response.writeHead(200, {'content-type': 'application/xml'}).end(LISTING)
      return true
    }
    try {
      const result = await world.cli('doctor', '--json')
      const report = JSON.parse(result.stdout) as {checks?: Check[]; error?: {details: {checks: Check[]}}}
      const checks = report.checks ?? report.error?.details.checks ?? []
      const unfinished = checks.find((check) => check.name === 'unfinished uploads')
      assert.equal(unfinished?.status, 'warn', show(result))
      assert.match(
        unfinished?.detail ?? '',
        /1 unfinished upload\(s\) in .*pupistry\/production\/artifacts\/abc\.tar\.gz; the oldest began 2026-01-01/,
      )
    } finally {
      s3.intercept = undefined
    }
  })
})

interface Check {
  name: string
  status: string
  detail: string
}
