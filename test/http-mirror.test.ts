import assert from 'node:assert/strict'
import {cpSync, mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {type CliResult, runCli, show} from './helpers/cli.js'
import {type Nginx, startNginx} from './helpers/nginx.js'
import {World} from './helpers/world.js'

describe('agents read through a read-only HTTPS mirror (nginx on loopback)', () => {
  let world: World
  let nginx: Nginx
  let mirror: string
  let nodeSettings: string

  /** Runs pupistry as the node: the world's settings plus agent.storage (and more). */
  const node = (agent: Record<string, unknown>, ...args: string[]): Promise<CliResult> => {
    writeFileSync(nodeSettings, dump({...world.settings, agent: {...world.settings.agent, ...agent}}))
    return runCli([...args, '--config', nodeSettings], {cwd: world.dir, env: {NODE_EXTRA_CA_CERTS: nginx.ca}})
  }

  /** The mirror catches up with the store, as a sync job would. */
  const sync = () => {
    rmSync(mirror, {force: true, recursive: true})
    cpSync(world.store, mirror, {recursive: true})
  }

  const publish = async (change: string) => {
    await world.commitToControl('production', (dir) =>
      writeFileSync(path.join(dir, 'manifests', `${change}.pp`), `# ${change}\n`),
    )
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '-e', 'production'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }
  }

  before(async () => {
    world = await World.create()
    mirror = path.join(world.dir, 'mirror')
    nodeSettings = path.join(world.dir, 'node.yaml')
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '-e', 'production'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    sync()
    const web = path.join(world.dir, 'nginx')
    mkdirSync(web)
    nginx = await startNginx(mirror, web)
  })

  after(async () => {
    await nginx?.stop()
    world?.cleanup()
  })

  it('apply downloads, verifies and applies from the mirror', async () => {
    const result = await node({storage: nginx.https}, 'apply')
    assert.equal(result.code, 0, show(result))
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n')
    assert.ok(
      nginx.requests().some((line) => /^GET \/pupistry\/production\/artifacts\/[0-9a-f]{64}\.tar\.gz 200$/.test(line)),
      nginx.requests().join('\n'),
    )
  })

  it('a check with nothing new is one conditional GET, answered 304', async () => {
    const before = nginx.requests().length
    const result = await node({storage: nginx.https}, 'apply', '--minimal')
    assert.equal(result.code, 0, show(result))
    assert.deepEqual(nginx.requests().slice(before), ['GET /pupistry/production/latest.json 304'])
  })

  it('follows redirects within https', async () => {
    await publish('redirect')
    sync()
    const active = world.activeVersion()
    const result = await node({storage: `${nginx.https}moved/`}, 'apply', '--minimal')
    assert.equal(result.code, 0, show(result))
    assert.notEqual(world.activeVersion(), active)
    assert.ok(nginx.requests().some((line) => line.startsWith('GET /moved/pupistry/production/latest.json 301')))
  })

  it('refuses a redirect from https to plain http, keeping the installed release', async () => {
    const active = world.activeVersion()
    const result = await node({storage: `${nginx.https}downgrade/`}, 'apply', '--force')
    assert.equal(result.code, 13, show(result))
    assert.match(result.stderr, /redirects to http:\/\/127\.0\.0\.1:\d+\/pupistry\/production\/latest\.json: refused/)
    assert.equal(world.activeVersion(), active)
  })

  it('refuses plain http:// unless agent.allow_insecure_http is set', async () => {
    const refused = await node({storage: nginx.http}, 'apply', '--minimal')
    assert.equal(refused.code, 13, show(refused))
    assert.match(
      refused.stderr,
      /^pupistry: error: refusing plain http:\/\/ for http:\/\/127\.0\.0\.1:\d+\/: artifacts carry your hiera data/m,
    )

    const allowed = await node({allow_insecure_http: true, storage: nginx.http}, 'apply', '--minimal')
    assert.equal(allowed.code, 0, show(allowed))
  })

  it('basic auth from the URL works, and a wrong password is "access denied" without the secret in the output', async () => {
    await publish('private')
    sync()
    const good = await node(
      {storage: `https://${nginx.user}:${nginx.password}@${nginx.https.slice('https://'.length)}private/`},
      'apply',
      '--minimal',
    )
    assert.equal(good.code, 0, show(good))
    assert.doesNotMatch(good.stdout + good.stderr, new RegExp(nginx.password))

    const bad = await node(
      {storage: `https://${nginx.user}:wrong-${nginx.password}@${nginx.https.slice('https://'.length)}private/`},
      'apply',
      '--force',
    )
    assert.equal(bad.code, 13, show(bad))
    assert.match(bad.stderr, /access denied/)
    assert.doesNotMatch(bad.stdout + bad.stderr, new RegExp(nginx.password))
  })

  it('a mirror missing the artifact, or serving a tampered one, leaves the installed release', async () => {
    await publish('stale')
    sync()
    const artifacts = path.join(mirror, 'pupistry', 'production', 'artifacts')
    const active = world.activeVersion()
    for (const name of readdirSync(artifacts)) rmSync(path.join(artifacts, name))
    const missing = await node({storage: nginx.https}, 'apply', '--minimal')
    assert.equal(missing.code, 13, show(missing))
    assert.match(
      missing.stderr,
      /artifact pupistry\/production\/artifacts\/[0-9a-f]{64}\.tar\.gz named by the manifest is missing from https:\/\/127\.0\.0\.1:\d+\//,
    )
    assert.equal(world.activeVersion(), active)

    for (const name of readdirSync(world.storePath('production', 'artifacts')))
      writeFileSync(path.join(artifacts, name), 'tampered')
    const tampered = await node({storage: nginx.https}, 'apply', '--minimal')
    assert.equal(tampered.code, 20, show(tampered))
    assert.equal(world.activeVersion(), active)
  })

  it('doctor: a mirror is read-only; one anyone can read is a warning, one behind basic auth is not', async () => {
    const open = await node({storage: nginx.https}, 'doctor')
    assert.equal(open.code, 0, show(open))
    assert.match(open.stdout, /^ok\s+least privilege\s+https:\/\/127\.0\.0\.1:\d+\/ is a read-only mirror/m)
    assert.match(open.stdout, /^WARN\s+exposure\s+anyone who can reach https:\/\/127\.0\.0\.1:\d+\/ can read it/m)

    const closed = await node(
      {storage: `https://${nginx.user}:${nginx.password}@${nginx.https.slice('https://'.length)}private/`},
      'doctor',
    )
    assert.equal(closed.code, 0, show(closed))
    assert.match(
      closed.stdout,
      /^ok\s+exposure\s+reading pupistry\/production\/latest\.json without credentials was refused \(401\)/m,
    )
    assert.doesNotMatch(closed.stdout + closed.stderr, new RegExp(nginx.password))
  })

  it('is read-only: push to an https store says where to push instead', async () => {
    const settings = path.join(world.dir, 'push-to-mirror.yaml')
    writeFileSync(settings, dump({...world.settings, general: {...world.settings.general, storage: nginx.https}}))
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'manifests', 'ro.pp'), '# ro\n'))
    const build = await world.cliWith(settings, 'build', '-e', 'production')
    assert.equal(build.code, 0, show(build))
    const result = await runCli(['push', '-e', 'production', '--config', settings], {
      cwd: world.dir,
      env: {NODE_EXTRA_CA_CERTS: nginx.ca},
    })
    assert.equal(result.code, 13, show(result))
    assert.match(result.stderr, /an http\(s\) store is a read-only mirror for agents/)
    assert.match(result.stderr, /general\.storage to the store you push to/)
  })
})
