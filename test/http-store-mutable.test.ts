import assert from 'node:assert/strict'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {after, before, describe, it} from 'node:test'

import {StoreError} from '../src/errors.js'
import {HttpStore} from '../src/store/http-store.js'

describe("the https mirror store follows the core's word, not key names", () => {
  const seen: Array<{url: string; cacheControl?: string}> = []
  let server: http.Server
  let base: URL

  before(async () => {
    server = http.createServer((request, response) => {
      seen.push({cacheControl: request.headers['cache-control'], url: request.url ?? ''})
      if (request.url?.startsWith('/denied/')) response.writeHead(403).end()
      else if (request.url?.startsWith('/broken/')) response.writeHead(503).end()
      else response.writeHead(200, {'content-length': '2', etag: '"x"'}).end('{}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
  })
  after(() => new Promise((resolve) => server.close(resolve)))

  it('asks caches to revalidate only what the core marks mutable', async () => {
    const store = new HttpStore(base, {allowInsecure: true})
    for (const [key, mutable] of [
      ['p/latest.json', true],
      ['p/latest.json', false],
      ['p/manifests/000000000001.json', true],
    ] as const) {
      const result = await store.get(key, {mutable})
      assert.ok(result && 'body' in result)
      result.body.resume()
    }

    assert.deepEqual(seen.splice(0), [
      {cacheControl: 'no-cache', url: '/p/latest.json'},
      {cacheControl: undefined, url: '/p/latest.json'},
      {cacheControl: 'no-cache', url: '/p/manifests/000000000001.json'},
    ])
  })

  it('says why a request failed: denied, unreachable (a server error, no answer)', async () => {
    const store = new HttpStore(base, {allowInsecure: true})
    const reason = (key: string, on = store) =>
      on.get(key).then(
        () => assert.fail('no error'),
        (error: unknown) => {
          assert.ok(error instanceof StoreError)
          return error.reason
        },
      )
    assert.equal(await reason('denied/x'), 'denied')
    assert.equal(await reason('broken/x'), 'unreachable')
    assert.equal(await reason('x', new HttpStore(new URL('http://127.0.0.1:9/'), {allowInsecure: true})), 'unreachable')
  })
})
