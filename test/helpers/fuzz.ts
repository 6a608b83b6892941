import assert from 'node:assert/strict'
import {createHmac, timingSafeEqual} from 'node:crypto'
import {lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'

import fc from 'fast-check'

import {decide} from '../../src/agent/trust.js'
import {unpackArtifact} from '../../src/artifact/unpack.js'
import type {Signature, Store, TrustedKeyFile, VerifiedSignature} from '../../src/contracts.js'
import {PupistryError} from '../../src/errors.js'
import {
  envelopePayload,
  makeEnvelope,
  parseEnvelope,
  preAuthEncoding,
  serializeEnvelope,
} from '../../src/format/envelope.js'
import {artifactKey} from '../../src/format/layout.js'
import {type Manifest, manifestOf, manifestPayloadType} from '../../src/format/manifest.js'
import {readPointer} from '../../src/format/pointer.js'
import {craftArchive} from './craft.js'

/** Longest a single case may take: a reader that loops or blocks on hostile input fails the property. */
export const CASE_BUDGET_MS = 2000

// A keyed hash stands in for a signature scheme, as in src/agent/trust.test.ts: only the key's holder signs.
const KEY: TrustedKeyFile = {file: 'trusted.asc', text: 'the build server key'}
const hmac = (data: Uint8Array): Buffer => createHmac('sha256', KEY.text).update(data).digest()
const PAYLOAD_TYPE = manifestPayloadType(1)
const sign = (payloadType: string, payload: Uint8Array): Signature => ({
  keyid: 'k',
  sig: hmac(preAuthEncoding(payloadType, payload)),
})
async function verify(data: Uint8Array, signature: Signature): Promise<VerifiedSignature | undefined> {
  const expected = hmac(data)
  const sig = Buffer.from(signature.sig)
  return sig.length === expected.length && timingSafeEqual(sig, expected)
    ? {identity: 'builder', keyid: signature.keyid}
    : undefined
}

const VERSION = 'ab'.repeat(32)
const MANIFEST: Manifest = {
  artifact: {files: 1, key: artifactKey('production', VERSION), sha256: VERSION, size: 100, unpacked_size: 300},
  build: {
    assembler: 'r10k',
    commit: null,
    host: 'build',
    modules: {hello: 'v1@abc'},
    tools: {node: '20.20.2'},
    user: 'ci',
  },
  created: '2026-06-01T10:00:00.000Z',
  environment: 'production',
  expires: null,
  format: 1,
  prefix: '',
  serial: 6,
  version: VERSION,
}
const PAYLOAD = Buffer.from(JSON.stringify(MANIFEST))
const VALID_ENVELOPE = serializeEnvelope(makeEnvelope(PAYLOAD_TYPE, PAYLOAD, [sign(PAYLOAD_TYPE, PAYLOAD)]))
const VALID_ARCHIVE = craftArchive([
  {path: 'manifests', type: 'Directory'},
  {content: 'notice("hello")\n', path: 'manifests/site.pp'},
  {linkpath: 'site.pp', path: 'manifests/link.pp', type: 'SymbolicLink'},
])

/** Byte-level damage: flips, truncation, extension, splices, or random bytes. */
function mutatedBytes(valid: Buffer): fc.Arbitrary<Buffer> {
  const at = fc.nat({max: valid.length})
  return fc.oneof(
    fc.array(fc.tuple(at, fc.integer({max: 255, min: 1})), {maxLength: 8, minLength: 1}).map((flips) => {
      const copy = Buffer.from(valid)
      for (const [index, mask] of flips) if (index < copy.length) copy[index] ^= mask
      return copy
    }),
    at.map((length) => valid.subarray(0, length)),
    fc.uint8Array({maxLength: 64, minLength: 1}).map((tail) => Buffer.concat([valid, tail])),
    fc
      .tuple(at, at, fc.uint8Array({maxLength: 32}))
      .map(([start, end, bytes]) =>
        Buffer.concat([valid.subarray(0, Math.min(start, end)), bytes, valid.subarray(Math.max(start, end))]),
      ),
    fc.uint8Array({maxLength: 512}).map((bytes) => Buffer.from(bytes)),
  )
}

const WEIRD_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', '', 'payload', 'modules', 'serial']
const anyJson = fc.jsonValue({maxDepth: 3})

/** A JSON value changed at one path: replaced by another type, given an extra member, or removed. */
function mutatedJson(valid: unknown): fc.Arbitrary<unknown> {
  const paths: string[][] = []
  const walk = (value: unknown, at: string[]): void => {
    paths.push(at)
    if (value && typeof value === 'object') for (const [key, child] of Object.entries(value)) walk(child, [...at, key])
  }

  walk(valid, [])
  const key = fc.oneof(fc.constantFrom(...WEIRD_KEYS), fc.string({maxLength: 12}))
  const how = fc.constantFrom('replace', 'extra', 'remove', 'array')
  return fc.tuple(fc.constantFrom(...paths), how, key, anyJson).map(([at, how, name, value]) => {
    const copy = JSON.parse(JSON.stringify(valid)) as Record<string, unknown>
    if (at.length === 0) return how === 'replace' ? value : how === 'array' ? [copy] : copy
    let parent = copy
    for (const step of at.slice(0, -1)) parent = parent[step] as Record<string, unknown>
    const last = at.at(-1)!
    if (how === 'replace') parent[last] = value
    else if (how === 'remove') delete parent[last]
    else if (how === 'array') parent[last] = [parent[last]]
    else if (parent[last] && typeof parent[last] === 'object') {
      Object.defineProperty(parent[last], name, {enumerable: true, value, writable: true})
    } else parent[last] = value
    return copy
  })
}

/** Re-encodings of the same JSON: other spacing and member order, escapes. */
function reencoded(valid: unknown): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(0, 1, 2, '\t'), fc.boolean(), fc.boolean()).map(([space, reverse, escapes]) => {
    const reorder = (value: unknown): unknown => {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return value
      const entries = Object.entries(value).map(([key, child]) => [key, reorder(child)] as const)
      return Object.fromEntries(reverse ? entries.reverse() : entries)
    }

    const text = JSON.stringify(reorder(valid), null, space)
    return escapes ? text.replaceAll('a', String.raw`\u0061`) : text
  })
}

/** Runs one case: a typed refusal or a result, within the budget; anything else fails the property. */
async function typed<T>(work: () => Promise<T> | T): Promise<T | undefined> {
  const started = performance.now()
  let result: T | undefined
  try {
    result = await work()
  } catch (error) {
    if (!(error instanceof PupistryError)) throw new Error(`untyped error: ${(error as Error)?.stack ?? String(error)}`)
  }

  const took = performance.now() - started
  if (took > CASE_BUDGET_MS) throw new Error(`case took ${Math.round(took)} ms (budget ${CASE_BUDGET_MS} ms)`)
  return result
}

function trustInput(envelope: ReturnType<typeof parseEnvelope>) {
  return {
    environment: 'production',
    keys: {disabled: false, setting: 'general.trusted_keys', trusted: [KEY], verify},
    location: 'store',
    log: {info() {}, warn() {}},
    now: new Date('2026-06-01T12:00:00.000Z'),
    pointer: {envelope, etag: '"e"', where: 'fuzz'},
    prefix: '',
    state: {etag: '"old"', serial: 5, version: 'cd'.repeat(32)},
  }
}

/** The trust step accepts only the signed bytes: any accepted envelope carries exactly the signed payload and type. */
async function acceptsOnlySigned(bytes: Buffer): Promise<void> {
  const envelope = await typed(() => parseEnvelope(bytes, 'fuzz'))
  if (!envelope) return
  const verdict = await typed(() => decide(trustInput(envelope)))
  if (!verdict) return
  assert.equal(envelope.payloadType, PAYLOAD_TYPE)
  assert.ok(envelopePayload(envelope).equals(PAYLOAD), 'accepted a payload that is not the signed one')
  assert.deepEqual(verdict.manifest, MANIFEST)
}

/** A validly signed payload is accepted only when the manifest read is all the payload said: nothing dropped or coerced. */
async function signedPayloadReadWhole(text: string): Promise<void> {
  const payload = Buffer.from(text, 'utf8')
  const envelope = makeEnvelope(PAYLOAD_TYPE, payload, [sign(PAYLOAD_TYPE, payload)])
  const verdict = await typed(() => decide(trustInput(envelope)))
  const manifest = await typed(() => manifestOf(envelope, 'fuzz'))
  assert.equal(Boolean(verdict?.manifest), Boolean(manifest) && verdict !== undefined)
  if (!manifest) return
  assert.deepStrictEqual(
    JSON.parse(JSON.stringify(manifest)),
    JSON.parse(text),
    'the reader dropped or changed signed content',
  )
  const parsed = JSON.parse(text) as Record<string, unknown>
  const keysOf = (value: unknown): string[] =>
    value && typeof value === 'object' ? Object.entries(value).flatMap(([key, child]) => [key, ...keysOf(child)]) : []
  assert.deepEqual(keysOf(manifest).sort(), keysOf(parsed).sort(), 'the reader dropped members')
}

function bodyStore(bytes: Buffer, chunk: number): Store {
  const chunks: Buffer[] = []
  for (let index = 0; index < bytes.length; index += chunk) chunks.push(bytes.subarray(index, index + chunk))
  return {
    get: async () => ({body: Readable.from(chunks), etag: '"e"'}),
    location: 'fuzz',
    prefix: '',
  } as unknown as Store
}

/** Everything an archive writes stays below the destination, and only files, directories and links inside it appear. */
function assertContained(dest: string): void {
  const root = realpathSync(dest)
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name)
      const stat = lstatSync(full)
      assert.ok(stat.isFile() || stat.isDirectory() || stat.isSymbolicLink(), `special file ${full}`)
      assert.equal(stat.mode & 0o7000, 0, `set-id bits on ${full}`)
      if (stat.isSymbolicLink()) {
        let target: string
        try {
          target = realpathSync(full)
        } catch {
          continue // dangling inside the tree
        }

        assert.ok(target === root || target.startsWith(`${root}/`), `link ${full} leaves the tree`)
      } else if (stat.isDirectory()) walk(full)
    }
  }

  walk(root)
}

export interface FuzzTarget {
  name: string
  property: fc.IAsyncPropertyWithHooks<unknown[]>
}

/** The properties, shared by test/fuzz.test.ts (fixed seed, few runs) and bench/fuzz.mjs (long runs). */
export function fuzzTargets(workdir: string): FuzzTarget[] {
  const manifestJson = JSON.parse(PAYLOAD.toString('utf8')) as unknown
  const envelopeJson = JSON.parse(VALID_ENVELOPE.toString('utf8')) as unknown
  let serial = 0
  return [
    {name: 'envelope bytes', property: fc.asyncProperty(mutatedBytes(VALID_ENVELOPE), acceptsOnlySigned)},
    {
      name: 'envelope JSON',
      property: fc.asyncProperty(
        fc.oneof(
          mutatedJson(envelopeJson).map((json) => JSON.stringify(json) ?? ''),
          reencoded(envelopeJson),
        ),
        (text) => acceptsOnlySigned(Buffer.from(text, 'utf8')),
      ),
    },
    {
      name: 'signed manifest',
      property: fc.asyncProperty(
        fc.oneof(
          mutatedJson(manifestJson).map((json) => JSON.stringify(json) ?? ''),
          reencoded(manifestJson),
          mutatedBytes(PAYLOAD).map((bytes) => bytes.toString('latin1')),
        ),
        signedPayloadReadWhole,
      ),
    },
    {
      name: 'pointer',
      property: fc.asyncProperty(
        mutatedBytes(VALID_ENVELOPE),
        fc.integer({max: 4096, min: 1}),
        async (bytes, chunk) => {
          const read = await typed(() => readPointer(bodyStore(bytes, chunk), 'production'))
          if (read && 'envelope' in read) await acceptsOnlySigned(bytes)
        },
      ),
    },
    {
      name: 'archive',
      property: fc.asyncProperty(mutatedBytes(VALID_ARCHIVE), async (bytes) => {
        const dir = mkdtempSync(path.join(workdir, `case-${serial++}-`))
        try {
          const file = path.join(dir, 'artifact.tar.gz')
          const dest = path.join(dir, 'release')
          writeFileSync(file, bytes)
          mkdirSync(dest)
          await typed(() => unpackArtifact(file, dest, {unpackedSize: 4096}))
          assertContained(dest)
          assert.deepEqual(readdirSync(dir).sort(), ['artifact.tar.gz', 'release'], 'wrote beside the destination')
        } finally {
          rmSync(dir, {force: true, recursive: true})
        }
      }),
    },
  ]
}

export const tempWorkdir = (): string => mkdtempSync(path.join(tmpdir(), 'pupistry-fuzz-'))
