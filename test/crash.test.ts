import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {BIN, type CliResult, show} from './helpers/cli.js'
import {artifactListing, compareListings, treeListing} from './helpers/tree-check.js'
import {World} from './helpers/world.js'

async function ok(world: World, ...args: string[]) {
  const result = await world.cli(...args)
  assert.equal(result.code, 0, show(result))
  return result
}

/** Runs pupistry with the node's settings. */
async function node(world: World, settingsFile: string, ...args: string[]) {
  const result = await world.cliWith(settingsFile, ...args)
  assert.equal(result.code, 0, show(result))
  return result
}

/**
 * Runs `pupistry apply` and kills it with SIGKILL: at a named step (the
 * test-only pause hook), or after `afterMs`. Resolves with what happened:
 * killed at the step, or the run ended before reaching it.
 */
function killedApply(
  settingsFile: string,
  args: string[],
  kill: {at?: string; afterMs?: number},
): Promise<{killed: boolean; result: CliResult}> {
  return new Promise((resolve, reject) => {
    const env = {...process.env, NO_COLOR: '1', ...(kill.at ? {PUPISTRY_TEST_PAUSE_AT: kill.at} : {})}
    const child = spawn(process.execPath, [BIN, 'apply', ...args, '--config', settingsFile], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let killed = false
    const killNow = () => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true
        child.kill('SIGKILL')
      }
    }

    const timer = kill.afterMs === undefined ? undefined : setTimeout(killNow, kill.afterMs)
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
      if (kill.at && stderr.includes(`test pause at ${kill.at} `)) killNow()
    })
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({killed, result: {code: code ?? -1, stderr, stdout}})
    })
  })
}

const STEPS = ['download', 'downloaded', 'unpack', 'unpacked', 'committed', 'link', 'activated', 'state', 'prune']
const ITERATIONS = 54

describe('crash safety: SIGKILL at every step, and a full disk', () => {
  let world: World
  let nodeSettings: string
  const versions: string[] = []
  const listings = new Map<string, Map<string, string>>()
  const contents = new Map<string, string>()

  before(async () => {
    world = await World.create()
    const cache = path.join(world.settings.general.app_cache as string, 'build', 'production')
    for (const [index, ref] of ['v1.0.0', 'v1.1.0'].entries()) {
      if (index > 0) {
        await world.commitToControl('production', (dir) => {
          const puppetfile = path.join(dir, 'Puppetfile')
          writeFileSync(puppetfile, readFileSync(puppetfile, 'utf8').replace("'v1.0.0'", `'${ref}'`))
        })
      }

      const version = JSON.parse((await ok(world, 'build', '-e', 'production', '--json')).stdout)[0].version as string
      versions.push(version)
      listings.set(version, await artifactListing(path.join(cache, `${version}.tar.gz`)))
      contents.set(version, `hello from ${ref}\n`)
    }

    // One kept release: every install downloads and unpacks, and prunes the other one.
    nodeSettings = path.join(world.dir, 'node.yaml')
    writeFileSync(nodeSettings, dump({...world.settings, agent: {...world.settings.agent, keep_releases: 1}}))
  })
  after(() => world.cleanup())

  /** The active release and every kept release are complete: their files match their artifact, by hash. */
  function assertComplete(context: string): string {
    const active = world.activeVersion()
    assert.ok(active, `${context}: an active release`)
    const root = path.join(path.dirname(world.puppetcode), 'pupistry-releases', 'production')
    for (const dir of readdirSync(root).filter((name) => !name.startsWith('.'))) {
      const version = dir.split('.')[0]
      const problems = compareListings(listings.get(version)!, treeListing(path.join(root, dir)))
      assert.deepEqual(problems, [], `${context}: release ${dir} is not complete`)
    }

    const state = path.join(world.settings.general.app_cache as string, 'agent', 'state.json')
    if (existsSync(state)) JSON.parse(readFileSync(state, 'utf8'))
    return active.split('.')[0]
  }

  it(
    `${ITERATIONS} runs killed at every step (and at random moments) never leave an incomplete release, ` +
      `and the next run finishes the update`,
    async () => {
      await ok(world, 'push')
      await node(world, nodeSettings, 'apply')
      const hits = new Map<string, number>()
      const started = Date.now()
      for (let round = 0; round < ITERATIONS; round++) {
        const wanted = versions[round % 2]
        const pushed = await ok(world, 'push', '-e', 'production', '--version', wanted.slice(0, 16))
        assert.match(pushed.stdout, /as serial \d+/)

        const step = round % (STEPS.length + 1) < STEPS.length ? STEPS[round % (STEPS.length + 1)] : undefined
        const kill = step ? {at: step} : {afterMs: 150 + Math.floor(Math.random() * 900)}
        const {killed, result} = await killedApply(nodeSettings, ['--minimal'], kill)
        const label = step ?? `${kill.afterMs} ms`
        if (killed)
          hits.set(label.endsWith('ms') ? 'timed' : label, (hits.get(label.endsWith('ms') ? 'timed' : label) ?? 0) + 1)
        else assert.equal(result.code, 0, `round ${round} (${label}) ran to the end: ${show(result)}`)
        const active = assertComplete(`round ${round}, killed at ${label}`)
        assert.ok(versions.includes(active))

        // The next run finishes the update; it is stopped just before Puppet, except on a sample where Puppet applies it.
        const sample = round % 9 === 4
        const next = sample
          ? {killed: false, result: await world.cliWith(nodeSettings, 'apply', '--minimal')}
          : await killedApply(nodeSettings, ['--minimal'], {at: 'puppet'})
        if (sample) assert.equal(next.result.code, 0, show(next.result))
        else assert.ok(next.killed || next.result.code === 0, show(next.result))
        assert.equal(
          assertComplete(`round ${round}, after the next run`),
          wanted,
          `round ${round}: the next run installed the newest release`,
        )
        if (sample) assert.equal(world.targetFile('hello.txt'), contents.get(wanted), 'Puppet applied the release')
      }

      const seconds = Math.round((Date.now() - started) / 1000)
      console.log(
        `# kill loop: ${ITERATIONS} rounds in ${seconds} s; killed at ${[...hits].map(([step, count]) => `${step} ×${count}`).join(', ')}`,
      )
      for (const step of [...STEPS, 'timed']) assert.ok((hits.get(step) ?? 0) > 0, `some run was killed at ${step}`)

      const final = await node(world, nodeSettings, 'apply')
      assert.match(final.stdout, /puppet/)
      const root = path.join(path.dirname(world.puppetcode), 'pupistry-releases', 'production')
      assert.deepEqual(
        readdirSync(root).filter((name) => name.startsWith('.')),
        [],
        'leftovers are cleaned',
      )
      assert.deepEqual(
        readdirSync(world.puppetcode).filter((name) => name.includes('.pupistry-')),
        [],
        'no temporary links left',
      )
    },
  )

  it(
    'a full disk (a file size limit) while unpacking or downloading fails cleanly (exit 16) with the ' +
      'previous release active',
    async () => {
      await node(world, nodeSettings, 'apply')
      const before = world.activeVersion()
      const limitKb = 512
      for (const [what, content] of [
        ['unpack', Buffer.alloc(2 * 1024 * 1024, 'a')], // compresses to a few KB: the download fits, the unpacked file does not
        ['download', Buffer.from(Array.from({length: 1024 * 1024}, () => Math.floor(Math.random() * 256)))], // does not compress
      ] as const) {
        await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'big.bin'), content))
        await ok(world, 'build', '-e', 'production')
        await ok(world, 'push')
        const limited = await new Promise<CliResult>((resolve) => {
          const child = spawn(
            'bash',
            ['-c', `ulimit -f ${limitKb}; exec "$0" "$@"`, process.execPath, BIN, 'apply', '--config', nodeSettings],
            {env: {...process.env, NO_COLOR: '1'}},
          )
          let stdout = ''
          let stderr = ''
          child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
          child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
          child.on('close', (code) => resolve({code: code ?? -1, stderr, stdout}))
        })
        assert.equal(limited.code, 16, `${what}: ${show(limited)}`)
        assert.match(limited.stderr, what === 'unpack' ? /no room to unpack/ : /no room to download/)
        assert.equal(world.activeVersion(), before, `${what}: the previous release stays active`)
        assertComplete(`after the failed ${what}`)
        const root = path.join(path.dirname(world.puppetcode), 'pupistry-releases', 'production')
        assert.deepEqual(
          readdirSync(root).filter((name) => name.startsWith('.')),
          [],
          `${what}: nothing half-written is left`,
        )
      }

      // With room again, the next run installs the newest release.
      const recovered = await node(world, nodeSettings, 'apply')
      assert.match(recovered.stdout, /installed serial/)
      assert.equal(readFileSync(path.join(world.puppetcode, 'production', 'big.bin')).length, 1024 * 1024)
    },
  )
})
