import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {makeEnvelope, serializeEnvelope} from '../format/envelope.js'
import {sealedBundleKey, sealedIndexKey} from '../format/layout.js'
import {pruneSealedCache} from './agent-step.js'
import {INDEX_PAYLOAD_TYPE} from './format.js'
import type {SealedNodeSettings} from './node-settings.js'

const hex = (char: string) => char.repeat(64)
const releasesOf = (...versions: number[]) => versions.map((n) => `releases/${hex(String(n))}.json`)

describe("the node's sealed cache is pruned with its releases", () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pupistry-sealed-cache-'))
  after(() => rmSync(root, {force: true, recursive: true}))
  const settings = {cacheDir: root} as SealedNodeSettings
  const dir = path.join(root, 'production')

  /** A cached index (as the agent caches it: by SHA-256) listing bundles; its record for a release version. */
  function cacheRelease(version: string, indexSha: string, bundles: string[], live = false) {
    const payload = {
      entries: Object.fromEntries(
        bundles.map((sha, n) => [hex(String(n)), {key: sealedBundleKey('production', sha), sha256: sha, size: 1}]),
      ),
      environment: 'production',
      version,
    }
    const envelope = makeEnvelope(INDEX_PAYLOAD_TYPE, Buffer.from(JSON.stringify(payload)), [
      {keyid: 'F'.repeat(40), sig: new Uint8Array([1])},
    ])
    mkdirSync(path.join(dir, 'releases'), {recursive: true})
    writeFileSync(path.join(dir, `${indexSha}.json`), serializeEnvelope(envelope))
    for (const sha of bundles) writeFileSync(path.join(dir, `${sha}.pgp`), 'ciphertext')
    const record = JSON.stringify({
      index: {key: sealedIndexKey('production', indexSha), sha256: indexSha, size: 1},
      version,
    })
    writeFileSync(path.join(dir, 'releases', `${version}.json`), record)
    if (live) writeFileSync(path.join(dir, 'materialised.json'), record)
  }

  it('keeps what kept releases name (their index and its bundles), removes the rest', async () => {
    cacheRelease(hex('1'), hex('a'), [hex('b')])
    cacheRelease(hex('2'), hex('c'), [hex('b'), hex('d')])
    cacheRelease(hex('3'), hex('e'), [hex('f')], true)
    writeFileSync(path.join(dir, `${hex('9')}.pgp.123.tmp`), 'left by a killed run')

    const removed = await pruneSealedCache(settings, 'production', [hex('2'), hex('3')])

    assert.deepEqual(removed.sort(), [`${hex('9')}.pgp.123.tmp`, `${hex('a')}.json`, `releases/${hex('1')}.json`])
    assert.deepEqual(readdirSync(dir).sort(), [
      `${hex('b')}.pgp`,
      `${hex('c')}.json`,
      `${hex('d')}.pgp`,
      `${hex('e')}.json`,
      `${hex('f')}.pgp`,
      'materialised.json',
      'releases',
    ])
    assert.deepEqual(readdirSync(path.join(dir, 'releases')).sort(), [`${hex('2')}.json`, `${hex('3')}.json`])
  })

  it('keeps the live data even when its release is not among the kept ones', async () => {
    const removed = await pruneSealedCache(settings, 'production', [])
    assert.deepEqual(removed.sort(), [`${hex('b')}.pgp`, `${hex('c')}.json`, `${hex('d')}.pgp`, ...releasesOf(2, 3)])
    assert.ok(readdirSync(dir).includes(`${hex('e')}.json`))
    assert.ok(readdirSync(dir).includes(`${hex('f')}.pgp`))
    assert.deepEqual(readdirSync(path.join(dir, 'releases')), [])
  })
})
