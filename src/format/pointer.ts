import type {Readable} from 'node:stream'

import type {Store} from '../contracts.js'
import {VerificationError} from '../errors.js'
import {type Envelope, MAX_ENVELOPE_BYTES, parseEnvelope} from './envelope.js'
import {manifestKey, pointerKey} from './layout.js'
import {type Manifest, manifestOf} from './manifest.js'

export interface PublishedManifest {
  envelope: Envelope
  manifest: Manifest
  /** The store's change tag of the pointer, for the next conditional read. */
  etag: string
}

/** Reads a small object fully, refusing anything larger than an envelope may be. */
export async function readLimited(body: Readable, limit: number, where: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body) {
    total += (chunk as Buffer).length
    if (total > limit) {
      body.destroy()
      throw new VerificationError(`${where} is larger than ${limit} bytes`)
    }

    chunks.push(chunk as Buffer)
  }

  return Buffer.concat(chunks)
}

export interface PointerEnvelope {
  envelope: Envelope
  /** The store's change tag of the pointer, for the next conditional read. */
  etag: string
  where: string
}

/** The environment's pointer (the newest manifest's envelope), unverified; one conditional read. */
export async function readPointer(
  store: Store,
  environment: string,
  options: {channel?: string; ifNoneMatch?: string} = {},
): Promise<PointerEnvelope | {notModified: true} | undefined> {
  const key = pointerKey(environment, options.channel)
  const result = await store.get(key, {ifNoneMatch: options.ifNoneMatch, mutable: true})
  if (!result || 'notModified' in result) return result
  return parsed(await envelopeBytes(store, key, result))
}

interface StoredEnvelope {
  bytes: Buffer
  etag: string
  where: string
}

/** An envelope object's bytes as read, up to the largest an envelope may be. */
async function envelopeBytes(
  store: Store,
  key: string,
  object: {body: Readable; etag: string},
): Promise<StoredEnvelope> {
  const where = `${store.location} ${key}`
  return {bytes: await readLimited(object.body, MAX_ENVELOPE_BYTES, where), etag: object.etag, where}
}

const parsed = ({bytes, etag, where}: StoredEnvelope): PointerEnvelope => ({
  envelope: parseEnvelope(bytes, where),
  etag,
  where,
})

/** A manifest of the environment's history by its serial, as stored (not parsed); undefined when absent. */
export async function readStoredManifest(
  store: Store,
  environment: string,
  serial: number,
): Promise<StoredEnvelope | undefined> {
  const key = manifestKey(environment, serial)
  const result = await store.get(key)
  if (!result || 'notModified' in result) return undefined
  return envelopeBytes(store, key, result)
}

/**
 * A manifest of the environment's history by its serial, unverified: what a
 * node with no release reads when a phased rollout names the release the
 * other nodes keep.
 */
export async function readManifestEnvelope(
  store: Store,
  environment: string,
  serial: number,
): Promise<PointerEnvelope | undefined> {
  const stored = await readStoredManifest(store, environment, serial)
  return stored && parsed(stored)
}

/** The environment's current manifest as published, without checking its signature (build side). */
export async function readPublished(
  store: Store,
  environment: string,
  channel?: string,
): Promise<PublishedManifest | undefined> {
  const result = await readPointer(store, environment, {channel})
  if (!result || 'notModified' in result) return undefined
  return {envelope: result.envelope, etag: result.etag, manifest: manifestOf(result.envelope, result.where)}
}
