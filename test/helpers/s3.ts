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
  stop(): Promise<void>
}

/**
 * An S3-protocol server (s3rver) on 127.0.0.1 with a temporary directory and
 * the given buckets, behind a tiny proxy that counts requests.
 */
export async function startS3(buckets: string[]): Promise<LocalS3> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'pupistry-s3-'))
  const server = new S3rver({address: '127.0.0.1', configureBuckets: buckets.map((name) => ({name})), directory, port: 0, silent: true})
  const {port} = (await server.run()) as AddressInfo
  const requests: string[] = []
  const answers: string[] = []
  const proxy = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`)
    const upstream = http.request({headers: request.headers, host: '127.0.0.1', method: request.method, path: request.url, port}, (answer) => {
      answers.push(`${request.method} ${request.url} → ${answer.statusCode}`)
      response.writeHead(answer.statusCode ?? 502, answer.headers)
      if (request.method === 'GET' && /\/artifacts\//.test(request.url ?? '') && local.cutDownloads > 0) {
        local.cutDownloads--
        const length = Number(answer.headers['content-length'] ?? 0)
        let sent = 0
        const half = Math.floor(length / 2)
        answer.on('data', (chunk: Buffer) => {
          if (sent >= half) return
          const part = chunk.subarray(0, half - sent)
          sent += part.length
          // The body has started, so the client sees a cut stream rather than a refused request.
          response.write(part, () => {
            if (sent >= half) response.socket?.destroy()
          })
        })
        return
      }

      answer.pipe(response)
    })
    upstream.on('error', () => response.destroy())
    request.pipe(upstream)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const proxyPort = (proxy.address() as AddressInfo).port
  const local: LocalS3 = {
    answers,
    cutDownloads: 0,
    directory,
    endpoint: `http://127.0.0.1:${proxyPort}`,
    requests,
    async stop() {
      proxy.closeAllConnections()
      await new Promise((resolve) => proxy.close(resolve))
      await server.close()
      rmSync(directory, {force: true, recursive: true})
    },
  }
  return local
}
