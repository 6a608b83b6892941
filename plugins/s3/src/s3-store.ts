import type {Readable} from 'node:stream'

import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketPolicyStatusCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import {Upload} from '@aws-sdk/lib-storage'
import {loadConfig, NODE_REGION_CONFIG_FILE_OPTIONS, NODE_REGION_CONFIG_OPTIONS} from '@smithy/core/config'
import type {
  Exposure,
  GetOptions,
  GetResult,
  IncompleteWrite,
  ObjectInfo,
  ProviderContext,
  ProviderError,
  PutOptions,
  Store,
} from 'pupistry'

import {describeS3Error, reasonOf, type S3Identity} from './s3-errors.js'
import {prefixOf} from './s3-url.js'

/** Objects up to this size go up in one PutObject; larger streams go multipart. */
const SINGLE_PUT_LIMIT = 16 * 1024 * 1024
const PART_SIZE = 8 * 1024 * 1024

function failure(kind: 'settings' | 'store', message: string, extra: Partial<ProviderError> = {}): ProviderError {
  return Object.assign(new Error(message), {kind, ...extra})
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

/**
 * The SDK's own region chain (AWS_REGION, then the region of AWS_PROFILE's
 * config file), then the AWS CLI's AWS_DEFAULT_REGION, then us-east-1
 * (S3-compatible servers mostly ignore it). Defaulting before the chain ran
 * signed for us-east-1 whatever the profile said.
 */
function regionChain(): () => Promise<string> {
  const sdkChain = loadConfig(NODE_REGION_CONFIG_OPTIONS, NODE_REGION_CONFIG_FILE_OPTIONS)
  return async () => {
    try {
      return await sdkChain()
    } catch {
      return process.env.AWS_DEFAULT_REGION || 'us-east-1'
    }
  }
}

/**
 * Amazon S3 or any S3-compatible store. The build side uses the `build`
 * credentials, nodes the `agent` ones; blank credentials use the SDK's
 * default chain (environment, profile, SSO, container or instance role).
 */
export class S3Store implements Store {
  readonly location: string
  readonly prefix: string
  private readonly bucket: string
  private readonly client: S3Client
  private readonly identity: S3Identity
  private readonly config: S3ClientConfig
  private readonly sse?: {ServerSideEncryption: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string}
  /** Why each link of the SDK's credential chain passed: its final error only says "none of them". */
  private readonly chainReasons: string[] = []

  constructor(url: URL, context: ProviderContext) {
    const {general} = context.settings
    const side = context.settings[context.side]
    this.bucket = url.hostname
    if (!this.bucket) throw failure('settings', `general.storage ${url.href} names no bucket (s3://BUCKET/PREFIX)`)
    this.prefix = prefixOf(url)
    this.location = `s3://${this.bucket}/${this.prefix}`
    if (text(side.proxy_uri)) {
      throw failure(
        'settings',
        `${context.side}.proxy_uri is set, but proxies are not supported by the s3 store yet; unset it or reach the store directly`,
      )
    }

    const endpoint = text(general.s3_endpoint)
    const accessKeyId = text(side.access_key_id)
    const secretAccessKey = text(side.secret_access_key)
    if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
      throw failure(
        'settings',
        `${context.side}.access_key_id and ${context.side}.secret_access_key must be set together (or ` +
          `both left blank for the default credential chain)`,
      )
    }

    const checksums = text(general.s3_checksums) ?? 'when_required'
    if (checksums !== 'when_required' && checksums !== 'when_supported') {
      throw failure('settings', `general.s3_checksums must be when_required or when_supported, not ${checksums}`)
    }

    const sse = text(general.s3_sse)
    if (sse) {
      if (sse !== 'AES256' && sse !== 'aws:kms')
        throw failure('settings', `general.s3_sse must be AES256 or aws:kms, not ${sse}`)
      this.sse = {
        ServerSideEncryption: sse,
        ...(text(general.s3_kms_key_id) ? {SSEKMSKeyId: text(general.s3_kms_key_id)} : {}),
      }
    }

    this.identity = {
      credentials: accessKeyId
        ? `access key ${accessKeyId}`
        : `the default credential chain${process.env.AWS_PROFILE ? ` (profile ${process.env.AWS_PROFILE})` : ''}`,
      endpoint,
      location: this.location,
      side: context.side,
    }
    const config: S3ClientConfig = {
      // Many S3-compatible servers reject the SDK's newer default checksums (and some store the chunked framing as the body).
      requestChecksumCalculation: checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
      responseChecksumValidation: checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
      // Fail in bounded time when the store stops answering or a body stalls: the SDK's socketTimeout is the idle time of
      // the connection, also while a body streams (its requestTimeout only warns). The SDK retries transient errors itself.
      requestHandler: {connectionTimeout: 10_000, requestTimeout: 120_000, socketTimeout: stallSeconds(context) * 1000},
      region: text(side.region) ?? regionChain(),
      ...(endpoint ? {endpoint, forcePathStyle: true} : {}),
      ...(accessKeyId && secretAccessKey ? {credentials: {accessKeyId, secretAccessKey}} : {}),
      logger: {
        debug: (...parts: unknown[]) => this.noteChainReason(parts),
        error: () => {},
        info: () => {},
        warn: (...parts: unknown[]) => console.warn(...parts),
      },
    }
    this.client = new S3Client(config)
    this.config = config
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    try {
      const result = await this.client.send(
        new GetObjectCommand({Bucket: this.bucket, IfNoneMatch: options.ifNoneMatch, Key: this.keyOf(key)}),
      )
      return {body: result.Body as Readable, etag: result.ETag ?? '', size: result.ContentLength ?? 0}
    } catch (error) {
      if (statusOf(error) === 304) return {notModified: true}
      if (isMissing(error)) return undefined
      throw this.error(error, 'reading', key)
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const result = await this.client.send(new HeadObjectCommand({Bucket: this.bucket, Key: this.keyOf(key)}))
      return {etag: result.ETag ?? '', key, size: result.ContentLength ?? 0}
    } catch (error) {
      if (isMissing(error)) return undefined
      throw this.error(error, 'reading', key)
    }
  }

  async put(key: string, body: Readable | Uint8Array, options: PutOptions = {}): Promise<{etag: string}> {
    const params = {
      Bucket: this.bucket,
      // A pointer is rewritten in place: no cache in front of the bucket may serve an old one.
      ...(options.mutable ? {CacheControl: 'no-cache'} : {}),
      ContentType: options.contentType,
      Key: this.keyOf(key),
      ...this.sse,
      // Create-only: S3 refuses with 412 when the key exists, so two pushes never share a serial.
      ...(options.createOnly ? {IfNoneMatch: '*'} : {}),
    }
    try {
      // Some S3-compatible servers ignore If-None-Match on writes: look first, so they at least fail in all but a narrow race.
      if (options.createOnly && (await this.head(key)))
        throw Object.assign(new Error('exists'), {$metadata: {httpStatusCode: 412}})
      if (body instanceof Uint8Array || (options.size !== undefined && options.size <= SINGLE_PUT_LIMIT)) {
        const bytes = body instanceof Uint8Array ? body : await collect(body)
        const result = await this.client.send(
          new PutObjectCommand({...params, Body: bytes, ContentLength: bytes.length}),
          {abortSignal: options.signal},
        )
        return {etag: result.ETag ?? ''}
      }

      const upload = new Upload({
        client: this.client,
        params: {...params, Body: body},
        partSize: PART_SIZE,
        queueSize: 2,
      })
      // An interrupted multipart upload is aborted, so S3 keeps (and bills) no orphaned parts.
      let abandoned: Promise<void> | undefined
      const abort = () => {
        abandoned = this.abandon(upload, params.Key)
      }
      if (options.signal?.aborted) abort()
      options.signal?.addEventListener('abort', abort, {once: true})
      try {
        const result = await upload.done()
        return {etag: result.ETag ?? ''}
      } catch (error) {
        // The interruption is reported only once the upload is aborted on the server.
        await abandoned
        throw error
      } finally {
        options.signal?.removeEventListener('abort', abort)
      }
    } catch (error) {
      if (statusOf(error) === 412) throw failure('store', `${this.location}${key} already exists`, {reason: 'conflict'})
      throw this.error(error, 'writing', key)
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = []
    let token: string | undefined
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({Bucket: this.bucket, ContinuationToken: token, Prefix: this.keyOf(prefix)}),
        )
        for (const object of page.Contents ?? []) {
          if (object.Key)
            found.push({
              etag: object.ETag ?? '',
              key: object.Key.slice(this.prefix.length),
              modified: object.LastModified,
              size: object.Size ?? 0,
            })
        }

        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    } catch (error) {
      throw this.error(error, 'listing', prefix)
    }

    return found
  }

  /**
   * Stops an interrupted multipart upload. lib-storage sends
   * AbortMultipartUpload only once the parts in flight have settled, which a
   * stalled connection never does: send it here, with the upload's id (a
   * field lib-storage does not expose), then drop the connections still
   * open, which would keep the interrupted process alive. The store is not
   * used again after an interruption.
   */
  private async abandon(upload: Upload, key: string): Promise<void> {
    await upload.abort()
    const uploadId = (upload as unknown as {uploadId?: string}).uploadId
    if (uploadId)
      await this.client
        .send(new AbortMultipartUploadCommand({Bucket: this.bucket, Key: key, UploadId: uploadId}))
        .catch(() => {})
    this.client.destroy()
  }

  /** Multipart uploads below the prefix that were neither completed nor aborted: S3 keeps (and bills) their parts. */
  async incomplete(prefix: string): Promise<IncompleteWrite[]> {
    const found: IncompleteWrite[] = []
    let keyMarker: string | undefined
    let uploadIdMarker: string | undefined
    try {
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            KeyMarker: keyMarker,
            Prefix: this.keyOf(prefix),
            UploadIdMarker: uploadIdMarker,
          }),
        )
        for (const upload of page.Uploads ?? []) {
          if (upload.Key && upload.UploadId)
            found.push({id: upload.UploadId, key: upload.Key.slice(this.prefix.length), started: upload.Initiated})
        }

        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined
        uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined
      } while (keyMarker)
    } catch (error) {
      throw this.error(error, 'listing the incomplete uploads of', prefix)
    }

    return found
  }

  async discard(write: IncompleteWrite): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({Bucket: this.bucket, Key: this.keyOf(write.key), UploadId: write.id}),
      )
    } catch (error) {
      throw this.error(error, 'aborting the upload of', write.key)
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({Bucket: this.bucket, Key: this.keyOf(key)}))
    } catch (error) {
      if (!isMissing(error)) throw this.error(error, 'deleting', key)
    }
  }

  /**
   * Asks the bucket's policy status where the server answers it, then tries
   * to list and read without credentials, as anyone on the network could.
   */
  async exposure(sampleKey?: string): Promise<Exposure> {
    let policy = 'the server does not report policy status'
    try {
      const status = await this.client.send(new GetBucketPolicyStatusCommand({Bucket: this.bucket}))
      if (status.PolicyStatus?.IsPublic)
        return {detail: `the bucket policy of ${this.bucket} makes it public`, status: 'exposed'}
      policy = 'the bucket policy is not public'
    } catch (error) {
      const name = (error as {name?: string}).name
      if (name === 'NoSuchBucketPolicy') policy = 'the bucket has no policy'
      else if (statusOf(error) === 403)
        policy = `policy status is not readable with the ${this.identity.side} credentials`
    }

    // Unsigned requests: what anyone who can reach the endpoint gets.
    const anonymous = new S3Client({
      ...this.config,
      credentials: {accessKeyId: 'anonymous', secretAccessKey: 'anonymous'},
      signer: {sign: async (request) => request},
    })
    const attempts: Array<[string, () => Promise<unknown>]> = [
      [
        `list ${this.location}`,
        () => anonymous.send(new ListObjectsV2Command({Bucket: this.bucket, Prefix: this.prefix})),
      ],
    ]
    if (sampleKey)
      attempts.push([
        `read ${this.location}${sampleKey}`,
        () => anonymous.send(new HeadObjectCommand({Bucket: this.bucket, Key: this.keyOf(sampleKey)})),
      ])
    const denied: string[] = []
    try {
      for (const [what, attempt] of attempts) {
        try {
          await attempt()
          return {detail: `anyone can ${what} without credentials (${policy})`, status: 'exposed'}
        } catch (error) {
          const status = statusOf(error)
          if (status !== 401 && status !== 403)
            return {
              detail: `could not try to ${what} without credentials: ${(error as Error).message} (${policy})`,
              status: 'unknown',
            }
          denied.push(what)
        }
      }
    } finally {
      anonymous.destroy()
    }

    return {detail: `without credentials, ${denied.join(' and ')} were refused; ${policy}`, status: 'private'}
  }

  private keyOf(key: string): string {
    return `${this.prefix}${key}`
  }

  private error(error: unknown, action: string, key: string): Error {
    const reasons =
      (error as {name?: string}).name === 'CredentialsProviderError' ? [...new Set(this.chainReasons)] : undefined
    return failure('store', describeS3Error(error, {...this.identity, action, key, reasons}), {
      cause: error,
      reason: reasonOf(error),
    })
  }

  /** The SDK reports each provider it tried only as a debug line: keep the ones that say why a credential source failed. */
  private noteChainReason(parts: unknown[]): void {
    const match = typeof parts[0] === 'string' ? /^@smithy\/property-provider -> (.*)$/s.exec(parts[0]) : undefined
    // Lookups of optional settings and skipped providers are noise, not reasons.
    if (!match || /^(Not found in |Skipping )|skipping/.test(match[1])) return
    this.chainReasons.push(match[1].trim().replace(/\.$/, ''))
    if (this.chainReasons.length > 10) this.chainReasons.shift()
  }
}

/** agent.transfer_timeout on a node (validated by the core as a whole number of seconds); 120 s otherwise. */
function stallSeconds(context: ProviderContext): number {
  const configured = context.side === 'agent' ? context.settings.agent.transfer_timeout : undefined
  return typeof configured === 'number' && configured > 0 ? configured : 120
}

function statusOf(error: unknown): number | undefined {
  return (error as {$metadata?: {httpStatusCode?: number}})?.$metadata?.httpStatusCode
}

function isMissing(error: unknown): boolean {
  const name = (error as {name?: string})?.name
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(error) === 404 && name !== 'NoSuchBucket')
}

async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
