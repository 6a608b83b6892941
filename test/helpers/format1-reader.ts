import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {run} from './cli.js'

const FORMAT1_TYPE = 'application/vnd.pupistry.manifest+json; version=1'
const MEMBERS = ['artifact', 'build', 'created', 'environment', 'expires', 'format', 'prefix', 'serial', 'version']
const ARTIFACT = ['files', 'key', 'sha256', 'size', 'unpacked_size']
const BUILD = ['assembler', 'commit', 'host', 'modules', 'tools', 'user']

const sorted = (object: object) => Object.keys(object).sort()

/**
 * Reads a signed envelope as a node released before format 2 does
 * (docs/FORMAT.md section 7, steps 2 to 5, format 1 only), written apart
 * from pupistry's own reader: GnuPG checks the signature over the PAE bytes
 * with only `publicKeyFile` in its keyring, and the payload must have
 * exactly format 1's members. Anything else fails an assertion.
 */
export async function readAsFormat1Node(envelopeFile: string, publicKeyFile: string): Promise<Record<string, unknown>> {
  const envelope = JSON.parse(readFileSync(envelopeFile, 'utf8'))
  assert.deepEqual(sorted(envelope), ['payload', 'payloadType', 'signatures'])
  assert.equal(envelope.payloadType, FORMAT1_TYPE, 'a format-1 node reads only the format-1 payload type')
  const payload = Buffer.from(envelope.payload, 'base64')
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${FORMAT1_TYPE.length} ${FORMAT1_TYPE} ${payload.length} `), payload])
  const home = mkdtempSync(path.join(os.tmpdir(), 'format1-node-'))
  const env = {GNUPGHOME: home}
  try {
    await run('gpg', ['--batch', '--import', publicKeyFile], {env})
    writeFileSync(path.join(home, 'pae.bin'), pae)
    let good = false
    for (const [index, signature] of (envelope.signatures as {sig: string}[]).entries()) {
      const sig = path.join(home, `pae.${index}.sig`)
      writeFileSync(sig, Buffer.from(signature.sig, 'base64'))
      const status = await run('gpg', ['--batch', '--status-fd', '1', '--verify', sig, path.join(home, 'pae.bin')], {
        env,
      }).catch(() => '')
      good ||= /^\[GNUPG:\] VALIDSIG /m.test(status)
    }
    assert.ok(good, 'no signature verifies with the trusted key')
  } finally {
    await run('gpgconf', ['--kill', 'all'], {env}).catch(() => {})
    rmSync(home, {force: true, recursive: true})
  }

  const manifest = JSON.parse(payload.toString('utf8'))
  assert.deepEqual(sorted(manifest), MEMBERS, 'a format-1 manifest has exactly these members')
  assert.equal(manifest.format, 1)
  assert.deepEqual(sorted(manifest.artifact), ARTIFACT)
  assert.deepEqual(sorted(manifest.build), BUILD)
  assert.equal(manifest.version, manifest.artifact.sha256)
  return manifest
}
