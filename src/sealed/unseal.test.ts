import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {after, before, describe, it} from 'node:test'

import * as openpgp from 'openpgp'

import {OpenPgpVerifier} from '../../plugins/openpgp/src/openpgp-signer.js'
import {SealedDataError} from '../errors.js'
import {makeEnvelope, preAuthEncoding, serializeEnvelope} from '../format/envelope.js'
import {sealedBundleKey, sealedIndexKey} from '../format/layout.js'
import type {NodeKeys} from '../signing/signing.js'
import {FileStore} from '../store/file-store.js'
import {encryptTo} from './crypto.js'
import {BUNDLE_PAYLOAD_TYPE, INDEX_PAYLOAD_TYPE, memberTag} from './format.js'
import type {NodeKey} from './node-keys.js'
import {unseal} from './unseal.js'

const VERSION = 'a'.repeat(64)

async function keyPair(name: string) {
  const {privateKey, publicKey} = await openpgp.generateKey({format: 'armored', type: 'ecc', userIDs: [{name}]})
  const key = await openpgp.readPrivateKey({armoredKey: privateKey})
  return {fingerprint: key.getFingerprint().toUpperCase(), key, privateKey, publicKey}
}

type Pair = Awaited<ReturnType<typeof keyPair>>

async function signed(type: string, body: unknown, by: Pair): Promise<Buffer> {
  const payload = Buffer.from(JSON.stringify(body), 'utf8')
  const message = await openpgp.createMessage({binary: preAuthEncoding(type, payload)})
  const sig = await openpgp.sign({detached: true, format: 'binary', message, signingKeys: by.key})
  return serializeEnvelope(makeEnvelope(type, payload, [{keyid: by.fingerprint, sig: sig as Uint8Array}]))
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

describe('unseal: what a node accepts from the store', () => {
  let dir: string
  let store: FileStore
  let builder: Pair
  let stranger: Pair
  let node: Pair
  let keys: NodeKeys
  let nodeKeys: NodeKey[]
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-unseal-'))
    mkdirSync(path.join(dir, 'store'))
    store = new FileStore(pathToFileURL(path.join(dir, 'store')))
    ;[builder, stranger, node] = await Promise.all([keyPair('builder'), keyPair('stranger'), keyPair('node')])
    const verifier = new OpenPgpVerifier()
    keys = {
      disabled: false,
      setting: 'test',
      trusted: [{file: 'builder.asc', text: builder.publicKey}],
      verify: (data, signature, trusted) => verifier.verify(data, signature, trusted),
    }
    nodeKeys = [{file: 'node.asc', fingerprint: node.fingerprint, secretKey: node.privateKey}]
  })
  after(() => rmSync(dir, {force: true, recursive: true}))

  /** Publishes an index and a bundle for the node, each part replaceable, and unseals them. */
  async function attempt(
    change: {
      bundleSigner?: Pair
      indexSigner?: Pair
      environment?: string
      indexVersion?: string
      path?: string
      recipients?: string[]
    } = {},
  ) {
    const bundle = {
      environment: change.environment ?? 'production',
      files: [{content: Buffer.from('secret: 1\n').toString('base64'), path: change.path ?? 'data/nodes/n.yaml'}],
      recipients: (change.recipients ?? [node.fingerprint]).map((fingerprint) => ({facts: {}, fingerprint})),
    }
    const ciphertext = await encryptTo(await signed(BUNDLE_PAYLOAD_TYPE, bundle, change.bundleSigner ?? builder), [
      node.publicKey,
    ])
    const bundleRef = {
      key: sealedBundleKey('production', sha256(ciphertext)),
      sha256: sha256(ciphertext),
      size: ciphertext.length,
    }
    await store.put(bundleRef.key, ciphertext)
    const index = {
      entries: {[memberTag(node.fingerprint, 'production')]: bundleRef},
      environment: 'production',
      version: change.indexVersion ?? VERSION,
    }
    const indexBytes = await signed(INDEX_PAYLOAD_TYPE, index, change.indexSigner ?? builder)
    const indexRef = {
      key: sealedIndexKey('production', sha256(indexBytes)),
      sha256: sha256(indexBytes),
      size: indexBytes.length,
    }
    await store.put(indexRef.key, indexBytes)
    return unseal({
      cacheDir: mkdtempSync(path.join(dir, 'cache-')),
      datadirs: ['data'],
      environment: 'production',
      index: indexRef,
      keys,
      nodeKeys,
      releaseHas: async (relative) => relative === 'data/common.yaml',
      store,
      version: VERSION,
    })
  }

  const refusal = (pattern: RegExp) => (error: unknown) =>
    error instanceof SealedDataError && pattern.test(error.message)

  it('accepts a bundle signed by a trusted key, for this node and environment', async () => {
    const result = await attempt()
    assert.deepEqual(
      result.files.map((file) => [file.path, file.content.toString()]),
      [['data/nodes/n.yaml', 'secret: 1\n']],
    )
  })

  it('refuses a bundle signed inside by an untrusted key', async () => {
    await assert.rejects(attempt({bundleSigner: stranger}), refusal(/no valid signature by a trusted key/))
  })

  it('refuses an index signed by an untrusted key', async () => {
    await assert.rejects(attempt({indexSigner: stranger}), refusal(/no valid signature by a trusted key/))
  })

  it('refuses a bundle sealed for another environment', async () => {
    await assert.rejects(attempt({environment: 'staging'}), refusal(/sealed for environment staging/))
  })

  it('refuses an index made for another version (another build or serial)', async () => {
    await assert.rejects(
      attempt({indexVersion: 'b'.repeat(64)}),
      refusal(/was made for production version bbbbbbbbbbbb/),
    )
  })

  it('refuses a bundle whose header does not name this node', async () => {
    await assert.rejects(attempt({recipients: [stranger.fingerprint]}), refusal(/does not name this node/))
  })

  it('refuses paths outside the protected data directories, and files the release holds', async () => {
    await assert.rejects(attempt({path: 'manifests/site.pp'}), refusal(/outside the protected data directories/))
    await assert.rejects(attempt({path: 'data/../manifests/x.pp'}), refusal(/outside the protected data directories/))
    await assert.rejects(attempt({path: 'data/common.yaml'}), refusal(/a path the release itself has/))
  })
})
