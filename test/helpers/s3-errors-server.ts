import http from 'node:http'
import type {AddressInfo} from 'node:net'

export interface FakeS3Answer {
  status: number
  code: string
  message: string
  extra?: Record<string, string>
}

/**
 * A loopback HTTP server that answers every request with one real S3 XML
 * error document: the errors s3rver cannot produce (it checks no signatures
 * and has no ACLs or regions).
 */
export async function startFakeS3(
  answer: FakeS3Answer,
): Promise<{endpoint: string; requests: http.IncomingHttpHeaders[]; stop(): Promise<void>}> {
  const requests: http.IncomingHttpHeaders[] = []
  const server = http.createServer((request, response) => {
    requests.push(request.headers)
    request.resume()
    const extra = Object.entries(answer.extra ?? {})
      .map(([name, value]) => `<${name}>${value}</${name}>`)
      .join('')
    const body =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${answer.code}</Code><Message>${answer.message}</Message>` +
      `${extra}<RequestId>4442587FB7D0A2F9</RequestId><HostId>test</HostId></Error>`
    response.writeHead(answer.status, {
      'content-length': Buffer.byteLength(body),
      'content-type': 'application/xml',
      'x-amz-request-id': '4442587FB7D0A2F9',
    })
    response.end(request.method === 'HEAD' ? undefined : body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    async stop() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
