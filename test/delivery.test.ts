import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {cohortPlace} from '../src/format/rollout.js'
import {show} from './helpers/cli.js'
import {readAsFormat1Node} from './helpers/format1-reader.js'
import {World} from './helpers/world.js'

/** The decoded payload and payload type of a stored envelope. */
function stored(file: string): {payloadType: string; manifest: Record<string, unknown> & {serial: number}} {
  const envelope = JSON.parse(readFileSync(file, 'utf8'))
  return {
    manifest: JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')),
    payloadType: envelope.payloadType,
  }
}

/** A node of its own (Puppet code, state) on the world's store, following the given agent settings. */
function node(world: World, name: string, agent: Record<string, unknown>) {
  const dir = path.join(world.dir, 'nodes', name)
  mkdirSync(dir, {recursive: true})
  const file = path.join(dir, 'settings.yaml')
  const puppetcode = path.join(dir, 'code', 'environments')
  const settings = {
    agent: {...world.settings.agent, puppetcode, ...agent},
    build: world.settings.build,
    general: {...world.settings.general, app_cache: path.join(dir, 'cache')},
  }
  writeFileSync(file, stringify(settings))
  return {
    apply: (...args: string[]) => world.cliWith(file, 'apply', ...args),
    file,
    puppetcode,
  }
}

async function ok(world: World, ...args: string[]) {
  const result = await world.cli(...args)
  assert.equal(result.code, 0, show(result))
  return result
}

async function build(world: World, environment: string): Promise<string> {
  return JSON.parse((await ok(world, 'build', '-e', environment, '--json')).stdout)[0].version
}

async function nextVersion(world: World, label: string): Promise<string> {
  await world.commitToControl('production', (dir) =>
    writeFileSync(path.join(dir, 'manifests', `${label}.pp`), `# ${label}\n`),
  )
  return build(world, 'production')
}

describe('channels, promotion and phased rollout (file store)', () => {
  let world: World
  let first: string
  before(async () => {
    world = await World.create()
    first = await build(world, 'production')
    await ok(world, 'push', '-e', 'production')
  })
  after(() => world.cleanup())

  it('a canary push has its own pointer; latest.json stays the stable format-1 pointer', async () => {
    const canaryVersion = await nextVersion(world, 'canary1')
    const pushed = await ok(world, 'push', '-e', 'production', '--channel', 'canary')
    assert.match(pushed.stdout, /published [0-9a-f]{12} on channel canary as serial 2, signed by/)
    const canary = stored(world.storePath('production', 'channels', 'canary.json'))
    assert.equal(canary.payloadType, 'application/vnd.pupistry.manifest+json; version=2')
    assert.equal(canary.manifest.channel, 'canary')
    assert.equal(canary.manifest.version, canaryVersion)
    const stable = stored(world.storePath('production', 'latest.json'))
    assert.equal(stable.payloadType, 'application/vnd.pupistry.manifest+json; version=1')
    assert.deepEqual([stable.manifest.serial, stable.manifest.version], [1, first])
  })

  it('each node installs its channel; a canary manifest on the stable pointer is refused', async () => {
    const stableNode = node(world, 'stable-1', {})
    const canaryNode = node(world, 'canary-1', {channel: 'canary'})
    assert.equal((await stableNode.apply('--minimal')).code, 0)
    const applied = await canaryNode.apply('--minimal')
    assert.equal(applied.code, 0, show(applied))
    const canary = stored(world.storePath('production', 'channels', 'canary.json'))
    assert.match(applied.stderr, new RegExp(`activated serial 2 \\(${String(canary.manifest.version).slice(0, 12)}\\)`))

    const latest = world.storePath('production', 'latest.json')
    const saved = readFileSync(latest)
    copyFileSync(world.storePath('production', 'channels', 'canary.json'), latest)
    try {
      const refused = await node(world, 'stable-2', {}).apply('--minimal')
      assert.equal(refused.code, 20, show(refused))
      assert.match(refused.stderr, /signed for channel canary of production, but this node follows channel stable/)
    } finally {
      writeFileSync(latest, saved)
    }
  })

  it('promote to stable keeps artifact and build record, raises the serial, stays format 1, and signs a provenance record', async () => {
    const canary = stored(world.storePath('production', 'channels', 'canary.json'))
    const promoted = await ok(world, 'promote', '-e', 'production', '--from', 'canary', '--to', 'stable', '--json')
    const result = JSON.parse(promoted.stdout)
    assert.equal(result.serial, 3)
    assert.deepEqual(result.from, {channel: 'canary', environment: 'production', serial: 2})
    assert.equal(result.provenanceRecord, 'pupistry/production/provenance/000000000003.json')
    // A node that reads only format 1 reads the promoted stable pointer: the same artifact and build record.
    const latest = world.storePath('production', 'latest.json')
    const asOldNode = await readAsFormat1Node(latest, String(world.settings.general.trusted_keys))
    assert.deepEqual(asOldNode.artifact, canary.manifest.artifact)
    assert.deepEqual(asOldNode.build, canary.manifest.build)
    assert.ok(Number(asOldNode.serial) > canary.manifest.serial)

    // The provenance is kept beside it, signed, and names that manifest by its payload's digest.
    const recordFile = world.storePath('production', 'provenance', '000000000003.json')
    const record = JSON.parse(readFileSync(recordFile, 'utf8'))
    assert.equal(record.payloadType, 'application/vnd.pupistry.provenance+json; version=1')
    assert.equal(record.signatures.length, 1)
    const named = JSON.parse(Buffer.from(record.payload, 'base64').toString('utf8'))
    const payload = Buffer.from(JSON.parse(readFileSync(latest, 'utf8')).payload, 'base64')
    assert.equal(named.manifest, createHash('sha256').update(payload).digest('hex'))
    assert.deepEqual(named.from, result.from)
    const status = await ok(world, 'status', '-e', 'production', '--json')
    assert.deepEqual(JSON.parse(status.stdout).environments[0].published.promotedFrom, result.from)
    assert.match(
      (await ok(world, 'status', '-e', 'production')).stdout,
      /production .* 3 \(from canary of production 2\)/,
    )

    // A record changed after signing is not believed.
    const forged = {...named, from: {...named.from, serial: 1}}
    writeFileSync(
      recordFile,
      JSON.stringify({...record, payload: Buffer.from(JSON.stringify(forged)).toString('base64')}),
    )
    const doubted = await ok(world, 'status', '-e', 'production', '--json')
    assert.equal(JSON.parse(doubted.stdout).environments[0].published.promotedFrom, undefined)
    assert.match(doubted.stderr, /provenance of serial 3 not believed: .* is not signed by your key or a trusted key/)
    writeFileSync(recordFile, `${JSON.stringify(record, null, 2)}\n`)
    const again = await ok(world, 'promote', '-e', 'production', '--from', 'canary', '--to', 'stable')
    assert.match(again.stdout, /already live \(serial 3\)/)
    const stableNode = node(world, 'stable-1', {})
    const applied = await stableNode.apply('--minimal')
    assert.equal(applied.code, 0, show(applied))
    assert.match(applied.stderr, /activated serial 3/)
  })

  it('a staging → production promotion deploys the identical artifact, copied between environments', async () => {
    const staged = await build(world, 'staging')
    await ok(world, 'push', '-e', 'staging')
    await ok(world, 'promote', '--from-env', 'staging', '--to-env', 'production', '--to', 'staging_test')
    const bytes = readFileSync(world.storePath('staging', 'artifacts', `${staged}.tar.gz`))
    assert.deepEqual(readFileSync(world.storePath('production', 'artifacts', `${staged}.tar.gz`)), bytes)
    const promoted = stored(world.storePath('production', 'channels', 'staging_test.json'))
    assert.equal(promoted.manifest.version, staged)
    assert.equal(promoted.manifest.environment, 'production')
    assert.deepEqual(promoted.manifest.provenance, {channel: 'stable', environment: 'staging', serial: 1})
    const applied = await node(world, 'staging-test-1', {channel: 'staging_test'}).apply('--minimal')
    assert.equal(applied.code, 0, show(applied))
    assert.match(applied.stderr, new RegExp(`activated serial 4 \\(${staged.slice(0, 12)}\\)`))
  })

  it('a refused source is never promoted', async () => {
    const refused = await world.cli('promote', '-e', 'production', '--from', 'nothing_here', '--to', 'stable')
    assert.equal(refused.code, 15, show(refused))
    const same = await world.cli('promote', '-e', 'production', '--from', 'stable', '--to', 'stable')
    assert.equal(same.code, 2, show(same))
  })

  it('phases a release in: deferred nodes keep their release (exit 0), refresh widens, 0 halts', async () => {
    const live = stored(world.storePath('production', 'latest.json')).manifest
    const version = await nextVersion(world, 'phased')
    const ids = Array.from({length: 400}, (_, index) => `node-${index}`)
    const inside = ids.find((id) => cohortPlace(version, id) < 0.2)!
    const between = ids.find((id) => cohortPlace(version, id) >= 0.2 && cohortPlace(version, id) < 0.6)!
    const early = node(world, 'phase-early', {rollout_id: inside})
    const late = node(world, 'phase-late', {rollout_id: between})
    for (const each of [early, late]) assert.equal((await each.apply('--minimal')).code, 0)

    const pushed = await ok(world, 'push', '-e', 'production', '--rollout', '20')
    assert.match(pushed.stdout, /rolling out to 20 % of nodes/)
    const phased = stored(world.storePath('production', 'latest.json')).manifest
    assert.deepEqual(phased.rollout, {percent: 20, previous: {serial: live.serial, version: live.version}})

    assert.match((await early.apply('--minimal')).stderr, new RegExp(`activated serial ${phased.serial}`))
    const deferred = await late.apply('--minimal')
    assert.equal(deferred.code, 0, show(deferred))
    assert.match(deferred.stderr, /rolls out to 20 % of nodes and this node is not among them yet; keeping serial/)
    const unchanged = await late.apply('--minimal')
    assert.equal(unchanged.code, 0, show(unchanged))

    await ok(world, 'push', '-e', 'production', '--refresh', '--rollout', '60')
    const widened = await late.apply('--minimal')
    assert.equal(widened.code, 0, show(widened))
    assert.match(widened.stderr, new RegExp(`activated serial ${phased.serial + 1} \\(${version.slice(0, 12)}\\)`))

    await ok(world, 'push', '-e', 'production', '--refresh', '--rollout', '0')
    // Halted: a node with nothing installed does not take it either; it takes the release the others keep.
    const previousFile = world.storePath('production', 'manifests', `${String(live.serial).padStart(12, '0')}.json`)
    const aside = `${previousFile}.aside`
    copyFileSync(previousFile, aside)
    rmSync(previousFile)
    try {
      const waiting = await node(world, 'phase-new-0', {rollout_id: inside}).apply('--minimal')
      assert.equal(waiting.code, 42, show(waiting))
      assert.match(waiting.stderr, new RegExp(`serial ${live.serial}, the release the other nodes keep, is no longer`))
    } finally {
      copyFileSync(aside, previousFile)
      rmSync(aside)
    }
    const fresh = node(world, 'phase-new', {rollout_id: inside})
    const halted = await fresh.apply('--minimal')
    assert.equal(halted.code, 0, show(halted))
    assert.match(halted.stderr, /it has no release yet, so it installs serial \d+ .*the release the other nodes keep/)
    assert.match(
      halted.stderr,
      new RegExp(`activated serial ${live.serial} \\(${String(live.version).slice(0, 12)}\\)`),
    )
    const stillHalted = await fresh.apply('--minimal')
    assert.equal(stillHalted.code, 0, show(stillHalted))
    assert.doesNotMatch(stillHalted.stderr, /activated/)
    // prune keeps what a halted release names as previous: nodes with no release install it.
    await ok(world, 'prune', '--keep', '0', '--grace', '0s')
    assert.ok(existsSync(previousFile))
    await ok(world, 'push', '-e', 'production', '--refresh', '--rollout', '100')
    assert.equal(stored(world.storePath('production', 'latest.json')).manifest.rollout, undefined)
  })

  it('a deferred node is never expired while it runs the named previous release', async () => {
    const settings = structuredClone(world.settings)
    // Long enough for a node on a loaded machine to install it first; the test then waits for the expiry.
    Object.assign(settings.general, {manifest_ttl: 15})
    const short = path.join(world.dir, 'short-ttl.yaml')
    writeFileSync(short, stringify(settings))
    const version = await nextVersion(world, 'expiring')
    const outside = Array.from({length: 400}, (_, index) => `n-${index}`).find((id) => cohortPlace(version, id) >= 0.5)!
    const waiting = node(world, 'phase-expiry', {rollout_id: outside})
    assert.equal((await world.cliWith(short, 'push', '-e', 'production', '--refresh')).code, 0)
    const installed = await waiting.apply('--minimal')
    assert.equal(installed.code, 0, show(installed))
    const expires = new Date(String(stored(world.storePath('production', 'latest.json')).manifest.expires))
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expires.getTime() - Date.now()) + 1000))
    assert.equal((await waiting.apply('--minimal')).code, 21, 'its own manifest expired')
    const phased = await world.cli('push', '-e', 'production', '--rollout', '50')
    assert.equal(phased.code, 0, show(phased))
    const deferred = await waiting.apply('--minimal')
    assert.equal(deferred.code, 0, show(deferred))
    assert.match(deferred.stderr, /not among them yet/)
    assert.doesNotMatch(deferred.stderr, /expired/)
  })
})

describe('a promoted format-1 release refreshed', () => {
  let world: World
  before(async () => {
    world = await World.create()
    await build(world, 'production')
    await ok(world, 'push', '-e', 'production', '--channel', 'canary')
  })
  after(() => world.cleanup())

  it('push --refresh keeps its provenance record, for the new serial', async () => {
    const promoted = JSON.parse((await ok(world, 'promote', '-e', 'production', '--from', 'canary', '--json')).stdout)
    await ok(world, 'push', '-e', 'production', '--refresh')
    const refreshed = stored(world.storePath('production', 'latest.json'))
    assert.equal(refreshed.payloadType, 'application/vnd.pupistry.manifest+json; version=1')
    assert.equal(refreshed.manifest.serial, promoted.serial + 1)
    assert.ok(
      existsSync(world.storePath('production', 'provenance', `${String(promoted.serial + 1).padStart(12, '0')}.json`)),
    )
    const status = JSON.parse((await ok(world, 'status', '-e', 'production', '--json')).stdout)
    assert.deepEqual(status.environments[0].published.promotedFrom, promoted.from)
    // prune removes a record together with its manifest (once canary has moved on from serial 1).
    await nextVersion(world, 'after-promotion')
    await ok(world, 'push', '-e', 'production', '--channel', 'canary')
    await ok(world, 'prune', '--keep', '0', '--grace', '0s')
    assert.equal(
      existsSync(world.storePath('production', 'provenance', `${String(promoted.serial).padStart(12, '0')}.json`)),
      false,
    )
  })
})

describe('signature threshold: push prepares, pupistry sign adds the second key and publishes', () => {
  let world: World
  before(async () => {
    world = await World.create()
    await build(world, 'production')
  })
  after(() => world.cleanup())

  it('one signature is not published; a second key holder signs and the node accepts both', async () => {
    const second = path.join(world.dir, 'second-keys')
    await ok(world, 'keys', 'generate', '--dir', second, '--user-id', 'Second <second@example.invalid>')
    const firstPublic = String(world.settings.general.trusted_keys)
    const secondPublic = path.join(second, 'pupistry-signing.public.asc')
    const both = {signature_threshold: 2, trusted_keys: [firstPublic, secondPublic]}
    Object.assign(world.settings.general, both)
    world.writeSettings()
    const holder = path.join(world.dir, 'second.yaml')
    writeFileSync(
      holder,
      stringify({
        ...world.settings,
        general: {
          ...world.settings.general,
          signing_key_file: path.join(second, 'pupistry-signing.secret.asc'),
          trusted_keys: firstPublic,
        },
      }),
    )

    const pushed = await ok(world, 'push', '-e', 'production')
    assert.match(
      pushed.stdout,
      /prepared [0-9a-f]{12} as serial 1, signed by Test Signer.*`pupistry sign -e production`/,
    )
    assert.equal(existsSync(world.storePath('production', 'latest.json')), false)
    const prepared = world.storePath('production', 'prepared', 'stable.json')
    const target = node(world, 'cosigned', {})
    const nothing = await target.apply('--minimal')
    assert.equal(nothing.code, 15, show(nothing))

    // A one-signature manifest put on the pointer by hand is refused by a node with threshold 2.
    copyFileSync(prepared, world.storePath('production', 'latest.json'))
    const refused = await target.apply('--minimal')
    assert.equal(refused.code, 20, show(refused))
    assert.match(refused.stderr, /signed by 1 trusted key\(s\), but general\.signature_threshold requires 2/)
    rmSync(world.storePath('production', 'latest.json'))

    const again = await world.cli('sign', '-e', 'production')
    assert.equal(again.code, 2, show(again))
    assert.match(again.stderr, /already signed by your key/)
    const signed = await world.cliWith(holder, 'sign', '-e', 'production')
    assert.equal(signed.code, 0, show(signed))
    assert.match(signed.stdout, /serial 1: published [0-9a-f]{12}, signed by Test Signer .*, Second .* \(threshold 2\)/)
    assert.equal(existsSync(prepared), false)
    assert.equal(JSON.parse(readFileSync(world.storePath('production', 'latest.json'), 'utf8')).signatures.length, 2)
    const applied = await target.apply('--minimal')
    assert.equal(applied.code, 0, show(applied))
    assert.match(applied.stderr, /activated serial 1/)
  })
})
