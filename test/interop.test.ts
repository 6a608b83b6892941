import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {run, runCli, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

/** A GnuPG home of its own, so the tests never touch the user's keyring. */
async function gnupgHome(dir: string): Promise<NodeJS.ProcessEnv> {
  mkdirSync(dir, {mode: 0o700, recursive: true})
  return {GNUPGHOME: dir}
}

async function gpgKey(env: NodeJS.ProcessEnv, userId: string, algo: string): Promise<string> {
  await run('gpg', ['--batch', '--passphrase', '', '--quick-generate-key', userId, algo, 'sign', 'never'], {env})
  const listing = await run('gpg', ['--batch', '--with-colons', '--list-secret-keys', userId], {env})
  return listing
    .split('\n')
    .find((line) => line.startsWith('fpr:'))!
    .split(':')[9]
}

describe('OpenPGP interop with GnuPG, both ways', () => {
  let world: World
  let env: NodeJS.ProcessEnv
  before(async () => {
    world = await World.create({noKeys: true})
    env = await gnupgHome(path.join(world.dir, 'gnupg'))
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
  })
  after(async () => {
    await run('gpgconf', ['--kill', 'all'], {env}).catch(() => {})
    world.cleanup()
  })

  /** Publishes with the given build settings and applies on a node that trusts only `publicKey`. */
  async function publishAndApply(
    label: string,
    general: Record<string, unknown>,
    publicKey: string,
    extraEnv: NodeJS.ProcessEnv = {},
  ) {
    const trusted = path.join(world.dir, `${label}.public.asc`)
    writeFileSync(trusted, publicKey)
    const settings = structuredClone(world.settings)
    Object.assign(settings.general, general, {trusted_keys: trusted})
    const file = path.join(world.dir, `${label}.yaml`)
    writeFileSync(file, stringify(settings))
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', `${label}.pp`), `# ${label}\n`),
    )
    const built = await world.cliWith(file, 'build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    const pushed = await runWith(file, extraEnv, 'push', '-e', 'production')
    assert.equal(pushed.code, 0, show(pushed))
    const applied = await world.cliWith(file, 'apply', '--minimal')
    assert.equal(applied.code, 0, show(applied))
    assert.match(applied.stderr, /activated serial \d+ \([0-9a-f]{12}\), signed by/)
    return {applied, pushed}
  }

  function runWith(file: string, extraEnv: NodeJS.ProcessEnv, ...args: string[]) {
    return runCli([...args, '--config', file], {cwd: world.dir, env: extraEnv})
  }

  for (const algo of ['ed25519', 'rsa3072']) {
    it(`a ${algo} key made by GnuPG and exported to a file signs with signing_key_file and verifies on a node`, async () => {
      const fpr = await gpgKey(env, `GnuPG ${algo} <${algo}@example.invalid>`, algo)
      const secret = path.join(world.dir, `${algo}.secret.asc`)
      writeFileSync(secret, await run('gpg', ['--batch', '--armor', '--export-secret-keys', fpr], {env}), {mode: 0o600})
      const publicKey = await run('gpg', ['--batch', '--armor', '--export', fpr], {env})
      const {pushed} = await publishAndApply(algo, {signing_key_file: secret}, publicKey)
      assert.match(pushed.stdout, new RegExp(`signed by GnuPG ${algo} <${algo}@example\\.invalid> \\(${fpr}\\)`))
    })
  }

  it('a manifest signed through the system gpg (gpg_signing_key) verifies on a node using openpgp.js', async () => {
    const fpr = await gpgKey(env, 'Keyring Key <keyring@example.invalid>', 'ed25519')
    const publicKey = await run('gpg', ['--batch', '--armor', '--export', fpr], {env})
    const {pushed} = await publishAndApply('keyring', {gpg_signing_key: 'keyring@example.invalid'}, publicKey, env)
    assert.match(pushed.stdout, new RegExp(`signed by Keyring Key <keyring@example\\.invalid> \\(${fpr}\\)`))
  })

  it('a signature made by pupistry verifies with gpg itself', async () => {
    const keys = path.join(world.dir, 'own')
    const generated = await world.cli('keys', 'generate', '--dir', keys, '--user-id', 'Own <own@example.invalid>')
    assert.equal(generated.code, 0, show(generated))
    const publicKey = path.join(keys, 'pupistry-signing.public.asc')
    const {pushed} = await publishAndApply(
      'own',
      {signing_key_file: path.join(keys, 'pupistry-signing.secret.asc')},
      readFileSync(publicKey, 'utf8'),
    )
    assert.match(pushed.stdout, /signed by Own <own@example\.invalid>/)

    // Verify the stored envelope's signature over the DSSE PAE bytes with gpg.
    const envelope = JSON.parse(readFileSync(world.storePath('production', 'latest.json'), 'utf8'))
    const payload = Buffer.from(envelope.payload, 'base64')
    // No format-2 feature is used, so push writes format 1, which every node reads.
    assert.equal(envelope.payloadType, 'application/vnd.pupistry.manifest+json; version=1')
    assert.equal(JSON.parse(payload.toString('utf8')).format, 1)
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${Buffer.byteLength(envelope.payloadType)} ${envelope.payloadType} ${payload.length} `),
      payload,
    ])
    writeFileSync(path.join(world.dir, 'pae.bin'), pae)
    writeFileSync(path.join(world.dir, 'pae.sig'), Buffer.from(envelope.signatures[0].sig, 'base64'))
    await run('gpg', ['--batch', '--import', publicKey], {env})
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        'gpg',
        ['--batch', '--verify', path.join(world.dir, 'pae.sig'), path.join(world.dir, 'pae.bin')],
        {env: {...process.env, ...env}},
        (error, _stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stderr)),
      )
    })
    assert.match(output, /Good signature from "Own <own@example\.invalid>"/)
  })
})
