import {mkdtempSync, rmSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import os from 'node:os'
import path from 'node:path'

import S3rver from 's3rver'

export interface LocalS3 {
  /** The endpoint to give pupistry: a counting proxy in front of the S3 server, on loopback. */
  endpoint: string
  /** Every request the proxy passed on, as "METHOD /path?query". */
  requests: string[]
  /** Answers of the S3 server, as "METHOD /path → status". */
  answers: string[]
  directory: string
  /** Cut this many of the next artifact downloads off half-way (the connection is dropped). */
  cutDownloads: number
  /** While true, the endpoint drops every connection without an answer: an outage. */
  down: boolean
  /** When set, answers a request itself instead of the S3 server when it returns true (a misbehaving server). */
  intercept?: (request: http.IncomingMessage, response: http.ServerResponse) => boolean
  /**
   * The same server as a locked-down bucket answers a read-only user: writes
   * and unsigned requests get 403 AccessDenied, and the bucket policy status
   * says "not public" (s3rver itself has neither users nor policies).
   */
  readOnlyEndpoint: string
  stop(): Promise<void>
}

/**
 * An S3-protocol server (s3rver) on 127.0.0.1 with a temporary directory and
 * the given buckets, behind a tiny proxy that counts requests.
 */
export async function startS3(buckets: string[]): Promise<LocalS3> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'pupistry-s3-'))
  const configureBuckets = buckets.map((name) => ({configs: [], name}))
  const server = new S3rver({address: '127.0.0.1', configureBuckets, directory, port: 0, silent: true})
  const {port} = (await server.run()) as AddressInfo
  const requests: string[] = []
  const answers: string[] = []
  const pass = (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (local.down) return void request.socket.destroy()
    if (local.intercept?.(request, response)) return
    requests.push(`${request.method} ${request.url}`)
    const upstream = http.request(
      {headers: request.headers, host: '127.0.0.1', method: request.method, path: request.url, port},
      (answer) => {
        answers.push(`${request.method} ${request.url} → ${answer.statusCode}`)
        response.writeHead(answer.statusCode ?? 502, answer.headers)
        if (request.method === 'GET' && /\/artifacts\//.test(request.url ?? '') && local.cutDownloads > 0) {
          local.cutDownloads--
          cutHalfWay(answer, response)
          return
        }

        answer.pipe(response)
      },
    )
    upstream.on('error', () => response.destroy())
    request.pipe(upstream)
  }

  const proxy = http.createServer(pass)
  const readOnly = http.createServer((request, response) => {
    const signed = Boolean(request.headers.authorization) || /[?&]X-Amz-Credential=/.test(request.url ?? '')
    if (signed && request.method === 'GET' && /\?policyStatus/.test(request.url ?? '')) {
      request.resume()
      return xml(response, 200, '<PolicyStatus><IsPublic>false</IsPublic></PolicyStatus>')
    }

    if (!signed || !['GET', 'HEAD'].includes(request.method ?? '')) {
      request.resume()
      return xml(
        response,
        403,
        '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
        request.method === 'HEAD',
      )
    }

    pass(request, response)
  })
  for (const server of [proxy, readOnly]) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxyPort = (proxy.address() as AddressInfo).port
  const local: LocalS3 = {
    answers,
    cutDownloads: 0,
    directory,
    down: false,
    endpoint: `http://127.0.0.1:${proxyPort}`,
    readOnlyEndpoint: `http://127.0.0.1:${(readOnly.address() as AddressInfo).port}`,
    requests,
    async stop() {
      for (const server of [proxy, readOnly]) {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
      }

      await server.close()
      rmSync(directory, {force: true, recursive: true})
    },
  }
  return local
}

function xml(response: http.ServerResponse, status: number, body: string, headOnly = false): void {
  const document = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`
  response.writeHead(status, {'content-length': Buffer.byteLength(document), 'content-type': 'application/xml'})
  response.end(headOnly ? undefined : document)
}

/** Sends the first half of a body, then drops the connection: the client sees a stream cut mid-way. */
function cutHalfWay(answer: http.IncomingMessage, response: http.ServerResponse): void {
  const half = Math.floor(Number(answer.headers['content-length'] ?? 0) / 2)
  let sent = 0
  answer.on('data', (chunk: Buffer) => {
    if (sent >= half) return
    const part = chunk.subarray(0, half - sent)
    sent += part.length
    response.write(part, () => {
      if (sent >= half) response.socket?.destroy()
    })
  })
}
