import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {run, show} from './helpers/cli.js'
import {gpgKey, type RubyRelease, rubyRelease} from './helpers/ruby-tool.js'
import {type LocalS3, startS3} from './helpers/s3.js'
import {World} from './helpers/world.js'

const credentials = {access_key_id: 'S3RVER', region: 'us-east-1', secret_access_key: 'S3RVER'}

/** A trivial environment Puppet applies in a moment. */
const environment = (marker: string) => ({
  'environment.conf': 'modulepath = modules\n',
  'manifests/site.pp': `notify {'${marker}': }\n`,
})

describe('agent.legacy_store: a new node reads the Ruby tool’s bucket', () => {
  let s3: LocalS3
  let world: World
  let signer: Awaited<ReturnType<typeof gpgKey>>
  let attacker: Awaited<ReturnType<typeof gpgKey>>
  let scratch: string
  let count = 0

  /** Publishes a release as the Ruby tool does: artifact, versioned manifest, pointer last (raw prefix `ruby/`). */
  async function publish(release: RubyRelease, manifest = release.manifest) {
    const put = async (name: string, body: Buffer | string) => {
      const response = await fetch(`${s3.endpoint}/fleet/ruby/${name}`, {
        body: typeof body === 'string' ? body : new Uint8Array(body),
        method: 'PUT',
      })
      assert.equal(response.status, 200, name)
    }
    await put(`artifact.${release.version}.tar.gz`, release.artifact)
    await put(`manifest.${release.version}.yaml`, manifest)
    await put('manifest.latest.yaml', manifest)
  }

  const release = (
    environments: Record<string, Record<string, string>>,
    options: Parameters<typeof rubyRelease>[2] = {},
  ) => rubyRelease(path.join(scratch, `release-${++count}`), environments, options)

  async function apply(...args: string[]) {
    return world.cli('apply', ...args)
  }

  before(async () => {
    s3 = await startS3(['fleet'])
    world = await World.create({
      agent: {...credentials, legacy_store: true},
      build: {...credentials},
      general: {s3_bucket: 'fleet', s3_endpoint: s3.endpoint, s3_prefix: 'ruby/', storage: null},
    })
    scratch = mkdtempSync(path.join(world.dir, 'ruby-'))
    signer = await gpgKey(path.join(world.dir, 'gnupg-ops'), 'Ops <ops@example.invalid>')
    attacker = await gpgKey(path.join(world.dir, 'gnupg-attacker'), 'Mallory <m@example.invalid>', 'ed25519')
    const trusted = path.join(world.dir, 'ops.public.asc')
    writeFileSync(trusted, signer.publicKey)
    world.settings.general.trusted_keys = trusted
    world.settings.general.signing_key_file = null
    world.writeSettings()
    // The Ruby agent imports `<keyid>.publickey` from the bucket; here it is the attacker's, and must never be read.
    await fetch(`${s3.endpoint}/fleet/ruby/${attacker.fingerprint}.publickey`, {
      body: attacker.publicKey,
      method: 'PUT',
    })
  })
  after(async () => {
    await run('gpgconf', ['--kill', 'all'], {env: signer.env}).catch(() => {})
    await run('gpgconf', ['--kill', 'all'], {env: attacker.env}).catch(() => {})
    world.cleanup()
    await s3.stop()
  })

  let first: RubyRelease
  let second: RubyRelease

  it('installs a signed Ruby release, only its own environment, warning loudly; status shows it as legacy', async () => {
    first = await release(
      {production: environment('ruby one'), staging: environment('staging')},
      {signWith: signer.env},
    )
    await publish(first)
    const result = await apply()
    assert.equal(result.code, 0, show(result))
    assert.match(result.stderr, /agent\.legacy_store is true/)
    assert.match(result.stdout, /installed Ruby-layout release/)
    assert.equal(world.activeVersion(), first.version)
    const code = path.join(world.puppetcode, 'production')
    assert.equal(readFileSync(path.join(code, 'manifests', 'site.pp'), 'utf8'), "notify {'ruby one': }\n")
    assert.ok(!existsSync(path.join(code, 'puppetcode')), 'only puppetcode/production/ is extracted, as the root')
    assert.ok(!existsSync(path.join(world.puppetcode, 'staging')), 'other environments are not installed')

    const again = await apply()
    assert.equal(again.code, 0, show(again))
    assert.match(again.stderr, /agent\.legacy_store is true/, 'warned on every run')

    const status = await world.cli('status', '-e', 'production')
    assert.match(status.stdout, /\(legacy\)/)
    const json = JSON.parse((await world.cli('status', '-e', 'production', '--json')).stdout)
    assert.equal(json.environments[0].installed.legacy, true)
    const doctor = await world.cli('doctor')
    assert.match(doctor.stdout, /legacy store.*agent\.legacy_store is true.*offers version [0-9a-f]{32}, signed/s)
  })

  /** Each refusal: exit 20, the message, and the installed release untouched. */
  async function refused(pattern: RegExp, ...args: string[]) {
    const before = world.activeVersion()
    const result = await apply(...args)
    assert.equal(result.code, 20, show(result))
    assert.match(result.stderr, pattern)
    assert.equal(world.activeVersion(), before)
  }

  it('verifies with general.trusted_keys only: a release signed by the key in the bucket’s *.publickey is refused', async () => {
    await publish(await release({production: environment('mallory')}, {signWith: attacker.env}))
    await refused(/no valid signature by a trusted key/)
    assert.ok(
      !s3.requests.some((line) => line.startsWith('GET') && line.includes('.publickey')),
      'the node never read a public key from the bucket',
    )
  })

  it('refuses an unsigned manifest unless the node sets gpg_disable', async () => {
    await publish(await release({production: environment('unsigned')}))
    await refused(/is unsigned \(gpgsig: unsigned\)/)
  })

  it('refuses a multi-line version before reading anything else', async () => {
    const signed = await release({production: environment('multi')}, {signWith: signer.env})
    const from = s3.requests.length
    const lines = signed.manifest.replace(
      `version: ${signed.version}`,
      `version: |\n  ${signed.version}\n  ; touch /tmp/pwned`,
    )
    await publish(signed, lines)
    await refused(/version is not exactly 32 lower-case hexadecimal digits/)
    const quoted = signed.manifest.replace(`version: ${signed.version}`, `version: "${signed.version}\\n"`)
    await publish(signed, quoted)
    await refused(/version is not exactly 32/)
    assert.ok(
      !s3.requests.slice(from).some((line) => line.startsWith('GET') && line.includes('artifact.')),
      'no artifact read',
    )
  })

  it('refuses an artifact, or the tar inside it, larger than agent.legacy_max_size', async () => {
    world.settings.agent.legacy_max_size = 20_000
    world.writeSettings()
    try {
      const noise = randomBytes(30_000).toString('base64')
      await publish(await release({production: {...environment('big'), 'files/noise': noise}}, {signWith: signer.env}))
      await refused(/artifact\.[0-9a-f]{32}\.tar\.gz is larger than agent\.legacy_max_size \(20000 bytes\); refused/)
      const bomb = 'x'.repeat(100_000)
      await publish(await release({production: {...environment('bomb'), 'files/bomb': bomb}}, {signWith: signer.env}))
      await refused(/unpacks to more than agent\.legacy_max_size \(20000 bytes\)/)
    } finally {
      delete world.settings.agent.legacy_max_size
      world.writeSettings()
    }
  })

  it('refuses a signed artifact whose tar’s MD5 is not its version', async () => {
    const real = await release({production: environment('md5')}, {signWith: signer.env})
    const claimed = 'f'.repeat(32)
    await publish({...real, version: claimed}, real.manifest.replace(`version: ${real.version}`, `version: ${claimed}`))
    await refused(new RegExp(`its tar has MD5 ${real.version}, not the version ${claimed}`))
  })

  it('refuses an archive with ".." entries, under the usual extraction rules', async () => {
    writeFileSync(path.join(scratch, 'evil'), 'owned\n')
    const evil = await release(
      {production: environment('dotdot')},
      {extra: ['puppetcode/production/../../../evil'], signWith: signer.env},
    )
    await publish(evil)
    await refused(/path with "\.\."/)
    assert.ok(!existsSync(path.join(world.puppetcode, '..', 'evil')))
  })

  it('never reinstalls a version this node replaced, unless --allow-downgrade', async () => {
    second = await release({production: environment('ruby two')}, {signWith: signer.env})
    await publish(second)
    const installed = await apply()
    assert.equal(installed.code, 0, show(installed))
    assert.equal(world.activeVersion(), second.version)

    await publish(first)
    await refused(/which this node already replaced with a newer one; refusing a rollback/)
    const downgraded = await apply('--allow-downgrade')
    assert.equal(downgraded.code, 0, show(downgraded))
    assert.equal(world.activeVersion(), first.version)
  })

  it('moves off the bridge: pupistry’s own layout, signed by the same key through the gpg signer', async () => {
    world.settings.agent.legacy_store = false
    world.settings.general.gpg_signing_key = signer.fingerprint
    world.writeSettings()
    world.env = {...signer.env}
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    const pushed = await world.cli('push', '-e', 'production')
    assert.equal(pushed.code, 0, show(pushed))
    const applied = await apply()
    assert.equal(applied.code, 0, show(applied))
    assert.doesNotMatch(applied.stderr, /legacy_store/)
    assert.match(world.activeVersion() ?? '', /^[0-9a-f]{64}$/)
    const json = JSON.parse((await world.cli('status', '-e', 'production', '--json')).stdout)
    assert.equal(json.environments[0].installed.legacy, undefined)
    assert.equal(json.environments[0].installed.serial, 1)
  })
})
