import {Readable, Transform} from 'node:stream'
import type {ReadableStream as WebReadableStream} from 'node:stream/web'

import type {Exposure, GetOptions, GetResult, ObjectInfo, Store} from '../contracts.js'
import {StoreError} from '../errors.js'
import {redactUrl} from '../util/redact.js'

export interface HttpStoreOptions {
  /** Allow plain http:// (the base URL or a redirect). Artifacts carry hiera data: off by default. */
  allowInsecure: boolean
  /** Until the response headers arrive. */
  headersTimeoutMs?: number
  /** Longest pause between two chunks of a body. */
  idleTimeoutMs?: number
}

const MAX_REDIRECTS = 5

/**
 * A read-only mirror of a store over HTTP(S): a CDN or any web server serving
 * a copy of the store's files. Signatures make it untrusted for integrity;
 * TLS keeps the artifacts (which carry hiera data) secret on the way.
 */
export class HttpStore implements Store {
  readonly location: string
  readonly prefix = ''
  private readonly base: URL
  private readonly authorization?: string
  private readonly headersTimeoutMs: number
  private readonly idleTimeoutMs: number

  constructor(
    url: URL,
    private readonly options: HttpStoreOptions,
  ) {
    if (url.protocol === 'http:' && !options.allowInsecure) {
      const refused =
        `refusing plain http:// for ${redactUrl(url.href)}: artifacts carry your hiera data; use https://, ` +
        'or set agent.allow_insecure_http: true on a trusted network'
      throw new StoreError(refused, {reason: 'invalid'})
    }

    if (url.username) {
      const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
      this.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`
    }

    this.base = new URL(url.href)
    this.base.username = ''
    this.base.password = ''
    if (!this.base.pathname.endsWith('/')) this.base.pathname += '/'
    this.location = redactUrl(url.href.endsWith('/') ? url.href : `${url.href}/`)
    this.headersTimeoutMs = options.headersTimeoutMs ?? 30_000
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const {response, abort} = await this.request('GET', key, options)
    if (response.status === 304) return {notModified: true}
    if (response.status === 404 || response.status === 410) {
      await response.body?.cancel()
      return undefined
    }

    this.expectOk(response, key)
    return {
      body: this.watchIdle(response, abort, key),
      etag: response.headers.get('etag') ?? '',
      size: Number(response.headers.get('content-length') ?? -1),
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const {response} = await this.request('HEAD', key)
    if (response.status === 404 || response.status === 410) return undefined
    this.expectOk(response, key)
    return {etag: response.headers.get('etag') ?? '', key, size: Number(response.headers.get('content-length') ?? -1)}
  }

  /** Reads an object without the credentials: anyone who can reach the mirror could do the same. */
  async exposure(sampleKey?: string): Promise<Exposure> {
    if (!sampleKey) return {detail: 'nothing to try reading without credentials', status: 'unknown'}
    const url = new URL(sampleKey.split('/').map(encodeURIComponent).join('/'), this.base)
    const response = await fetch(url, {
      method: 'HEAD',
      redirect: 'follow',
      signal: AbortSignal.timeout(this.headersTimeoutMs),
    }).catch(() => undefined)
    if (!response) return {detail: `${redactUrl(url.href)} could not be reached without credentials`, status: 'unknown'}
    if (response.ok)
      return {
        detail: `anyone who can reach ${this.location} can read it: no credentials were needed for ${sampleKey}`,
        status: 'exposed',
      }
    if (response.status === 401 || response.status === 403)
      return {detail: `reading ${sampleKey} without credentials was refused (${response.status})`, status: 'private'}
    return {detail: `reading ${sampleKey} without credentials gave HTTP ${response.status}`, status: 'unknown'}
  }

  async put(): Promise<{etag: string}> {
    throw this.readOnly('write to')
  }

  async list(): Promise<ObjectInfo[]> {
    throw this.readOnly('list')
  }

  async delete(): Promise<void> {
    throw this.readOnly('delete from')
  }

  private readOnly(what: string): StoreError {
    return new StoreError(`cannot ${what} ${this.location}: an http(s) store is a read-only mirror for agents`, {
      hint: 'set general.storage to the store you push to, and the mirror as agent.storage on nodes',
      reason: 'invalid',
    })
  }

  /** One request, following redirects itself so that none goes from https to http or takes the credentials elsewhere. */
  private async request(
    method: 'GET' | 'HEAD',
    key: string,
    options: GetOptions = {},
  ): Promise<{response: Response; abort: AbortController}> {
    const {ifNoneMatch, mutable} = options
    let url = new URL(key.split('/').map(encodeURIComponent).join('/'), this.base)
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const abort = new AbortController()
      const timer = setTimeout(
        () => abort.abort(new Error(`no answer within ${this.headersTimeoutMs / 1000} s`)),
        this.headersTimeoutMs,
      )
      const headers: Record<string, string> = {}
      if (ifNoneMatch) headers['if-none-match'] = ifNoneMatch
      // A pointer must come from the origin, not a cache's stale copy; artifacts never change.
      if (mutable) headers['cache-control'] = 'no-cache'
      if (this.authorization && url.origin === this.base.origin) headers.authorization = this.authorization
      let response: Response
      try {
        response = await fetch(url, {headers, method, redirect: 'manual', signal: abort.signal})
      } catch (error) {
        const reason = abort.signal.aborted
          ? String((abort.signal.reason as Error)?.message ?? abort.signal.reason)
          : describeFetchError(error)
        throw new StoreError(`cannot reach the store at ${redactUrl(url.href)}: ${reason}`, {
          cause: error,
          reason: 'unreachable',
        })
      } finally {
        clearTimeout(timer)
      }

      if (![301, 302, 303, 307, 308].includes(response.status)) return {abort, response}
      await response.body?.cancel()
      const location = response.headers.get('location')
      if (!location)
        throw new StoreError(`${redactUrl(url.href)} answered ${response.status} without a Location`, {
          reason: 'invalid',
        })
      const next = new URL(location, url)
      if (next.protocol !== 'https:' && !(next.protocol === 'http:' && this.options.allowInsecure)) {
        const refused =
          `${redactUrl(url.href)} redirects to ${redactUrl(next.href)}: refused ` +
          '(only https://, or http:// with agent.allow_insecure_http: true)'
        throw new StoreError(refused, {reason: 'invalid'})
      }

      url = next
    }

    throw new StoreError(`more than ${MAX_REDIRECTS} redirects from ${this.location}${key}`, {reason: 'invalid'})
  }

  private expectOk(response: Response, key: string): void {
    if (response.ok) return
    void response.body?.cancel()
    const denied = response.status === 401 || response.status === 403
    // A server error (502, 503, 504 from a CDN or proxy) means the origin gave no answer: retried sooner by the daemon.
    const reason = denied ? 'denied' : response.status >= 500 ? 'unreachable' : 'invalid'
    const what = denied ? 'access denied' : `HTTP ${response.status} ${response.statusText}`.trim()
    throw new StoreError(`${this.location}${key}: ${what}`, {reason})
  }

  /** The body as a Node stream that fails when the server stalls longer than the idle timeout. */
  private watchIdle(response: Response, abort: AbortController, key: string): Readable {
    if (!response.body) return Readable.from([])
    const idle = this.idleTimeoutMs
    let timer: NodeJS.Timeout | undefined
    const arm = () => {
      clearTimeout(timer)
      timer = setTimeout(() => abort.abort(new Error(`${this.location}${key}: no data for ${idle / 1000} s`)), idle)
    }

    arm()
    const watch = new Transform({
      flush(done) {
        clearTimeout(timer)
        done()
      },
      transform(chunk, _encoding, done) {
        arm()
        done(null, chunk)
      },
    })
    const source = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)
    source.on('error', (error) => {
      clearTimeout(timer)
      watch.destroy(abort.signal.aborted ? (abort.signal.reason as Error) : error)
    })
    watch.on('close', () => {
      clearTimeout(timer)
      // A reader that stops early (an oversized artifact) must not leave the connection open.
      if (!source.readableEnded) abort.abort(new Error('closed by the reader'))
    })
    return source.pipe(watch)
  }
}

/** fetch hides the network reason in `cause`. */
function describeFetchError(error: unknown): string {
  const cause = (error as {cause?: {code?: string; message?: string}}).cause
  return cause?.code ?? cause?.message ?? (error as Error).message
}
