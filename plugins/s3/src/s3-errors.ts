import type {ProviderErrorReason} from 'pupistry'

/** Who was talking to which store, for messages (never a secret). */
export interface S3Identity {
  side: string
  credentials: string
  location: string
  endpoint?: string
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
])

/**
 * One sentence a user can act on for an S3 failure: what happened, where,
 * and with which credentials (the key id or the chain, never the secret).
 */
export function describeS3Error(
  error: unknown,
  context: S3Identity & {action: string; key: string; reasons?: string[]},
): string {
  const err = error as {
    name?: string
    code?: string
    message?: string
    $metadata?: {httpStatusCode?: number}
    Region?: string
    Endpoint?: string
  }
  const where = `${context.location}${context.key}`
  const who = `${context.side} credentials (${context.credentials})`
  const bucket = context.location.replace(/^s3:\/\/([^/]+).*$/, '$1')
  const server = context.endpoint ? ` at ${context.endpoint}` : ''
  switch (err?.name) {
    case 'NoSuchBucket':
      return `bucket ${bucket} does not exist${server} (${context.action} ${where})`
    case 'AccessDenied':
    case 'Forbidden':
      return `access denied ${context.action} ${where} with the ${who}`
    case 'InvalidAccessKeyId':
      return `the ${who} are not known to the store${server}`
    case 'SignatureDoesNotMatch':
      return `the store rejected the request signature of the ${who}: wrong secret key, or this machine's clock is off`
    case 'RequestTimeTooSkewed':
      return `this machine's clock is too far off for the store${server}: fix the time (NTP) and retry`
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
      return (
        `bucket ${bucket} is in another region${err.Region ? ` (${err.Region})` : ''}: set ` +
        `${context.side}.region${err.Endpoint ? `, or the endpoint ${err.Endpoint}` : ''}`
      )
    case 'CredentialsProviderError':
      // The SDK's reasons say what failed (a profile that does not exist, a metadata service that is off): keep them.
      return (
        `no credentials for the store (${context.credentials}): ` +
        `${context.reasons?.length ? context.reasons.join('; ') : err.message}; set ` +
        `${context.side}.access_key_id and ${context.side}.secret_access_key, or provide a profile, ` +
        `environment variables or an instance role`
      )
    case 'TimeoutError':
      return `the store${server} did not answer in time (${context.action} ${where})`
    default:
      break
  }

  const code = err?.code ?? (err as {cause?: {code?: string}})?.cause?.code
  if (code && NETWORK_CODES.has(code))
    return `cannot reach the store${server || ` for ${bucket}`}: ${code} (${context.action} ${where})`
  const status = err?.$metadata?.httpStatusCode
  if (status === 403) return `access denied ${context.action} ${where} with the ${who}`
  return (
    `${context.action} ${where} failed: ` +
    `${err?.name && err.name !== 'Error' && err.name !== 'Unknown' ? `${err.name}: ` : ''}${err?.message || `HTTP ${status ?? '?'}`}`
  )
}

/** Why an S3 request failed, in the plugin contract's terms; undefined when it is none of them. */
export function reasonOf(error: unknown): ProviderErrorReason | undefined {
  const err = error as {name?: string; code?: string; cause?: {code?: string}; $metadata?: {httpStatusCode?: number}}
  switch (err?.name) {
    case 'AccessDenied':
    case 'Forbidden':
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'CredentialsProviderError':
      return 'denied'
    case 'NoSuchBucket':
      return 'not found'
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
    case 'RequestTimeTooSkewed':
      return 'invalid'
    case 'TimeoutError':
    case 'SlowDown':
    case 'ServiceUnavailable':
      return 'unreachable'
    default:
      break
  }

  const code = err?.code ?? err?.cause?.code
  if (code && NETWORK_CODES.has(code)) return 'unreachable'
  const status = err?.$metadata?.httpStatusCode
  if (status === 401 || status === 403) return 'denied'
  if (status === 412) return 'conflict'
  if (status !== undefined && status >= 500) return 'unreachable'
  return undefined
}
