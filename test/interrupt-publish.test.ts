import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {BIN, run, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

/** A pupistry process a test interrupts: it waits for a line on stderr, then sends the signal. */
function interruptAt(world: World, args: string[], line: RegExp, signal: NodeJS.Signals, before?: () => Promise<void>) {
  const child = spawn(process.execPath, [BIN, ...args, '--config', world.settingsFile, '--verbose'], {
    env: {...process.env, NO_COLOR: '1'},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let sent = false
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr.on('data', async (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
    if (sent || !line.test(stderr)) return
    sent = true
    await before?.()
    child.kill(signal)
  })
  return new Promise<{code: number; stdout: string; stderr: string; sent: boolean}>((resolve) =>
    child.on('close', (code) => resolve({code: code ?? -1, sent, stderr, stdout})),
  )
}

interface Check {
  name: string
  status: string
  detail: string
}

/** Every file below `dir` whose name starts with `prefix`. */
function litter(dir: string, prefix: string): string[] {
  return readdirSync(dir, {recursive: true, withFileTypes: true})
    .filter((entry) => entry.name.startsWith(prefix))
    .map((entry) => path.join(entry.parentPath, entry.name))
}

describe('Ctrl-C or SIGTERM in build and push: one message, exit 24, nothing left behind', () => {
  let world: World
  let cache: string

  before(async () => {
    world = await World.create()
    cache = path.join(world.settings.general.app_cache as string, 'build')
    // Random bytes do not compress: packing them takes long enough to be interrupted.
    await world.commitToControl('production', (dir) => writeFileSync(path.join(dir, 'blob.bin'), randomBytes(96 << 20)))
  })
  after(() => world.cleanup())

  it('build: SIGINT while packing removes the partial artifact and exits 24', async () => {
    const result = await interruptAt(world, ['build', '-e', 'production'], /Packing production/, 'SIGINT')
    assert.ok(result.sent, show({...result}))
    assert.equal(result.code, 24, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: interrupted: build stopped while packing production; its partial artifact was removed/m,
    )
    assert.equal(result.stderr.match(/pupistry: error:/g)?.length, 1, 'one message')
    assert.deepEqual(litter(cache, '.building-'), [])
    assert.ok(!existsSync(path.join(cache, 'production', 'build.json')), 'nothing was recorded as built')
  })

  it('push: SIGTERM during the upload removes the store temporary, moves no pointer, exits 24', async () => {
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    // The artifact is replaced by a FIFO the test feeds: the upload is in progress for as long as the test wants.
    const record = JSON.parse(readFileSync(path.join(cache, 'production', 'build.json'), 'utf8')) as {version: string}
    const artifact = path.join(cache, 'production', `${record.version}.tar.gz`)
    const bytes = readFileSync(artifact)
    rmSync(artifact)
    await run('mkfifo', [artifact])
    // Fed a little at a time until pupistry has gone, so that its read of the FIFO never waits long
    // (an abort waits for the read in flight) and never ends (an end would finish the upload first).
    const feeder = createWriteStream(artifact)
    feeder.on('error', () => {}) // EPIPE once pupistry has gone
    feeder.write(bytes.subarray(0, 1 << 20))
    const feeding = setInterval(() => feeder.write(bytes.subarray(0, 64 << 10)), 20)
    // --no-validate: validation would read the FIFO that stands in for the artifact, before the upload the test is about.
    const result = await interruptAt(
      world,
      ['push', '--no-validate'],
      /Uploading pupistry\/production\/artifacts\//,
      'SIGTERM',
      async () => {
        // The upload has begun: a temporary file is growing in the store.
        for (let waited = 0; litter(world.store, '.pupistry-tmp-').length === 0 && waited < 10_000; waited += 50)
          await sleep(50)
        const [temp] = litter(world.store, '.pupistry-tmp-')
        assert.ok(temp && statSync(temp).size > 0, 'a temporary file was being written')
      },
    ).finally(() => {
      clearInterval(feeding)
      feeder.destroy()
    })
    assert.equal(result.code, 24, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: interrupted: push stopped during production; .*pointer was not moved/m,
    )
    assert.equal(result.stderr.match(/pupistry: error:/g)?.length, 1, 'one message')
    assert.deepEqual(litter(world.store, '.pupistry-tmp-'), [])
    assert.ok(!existsSync(world.storePath('production', 'latest.json')), 'no pointer was written')
  })

  it('what a killed push leaves: doctor reports it, prune removes it once older than the grace period', async () => {
    // SIGKILL leaves no chance to clean up: a temporary file stays in the store.
    const dir = world.storePath('production', 'artifacts')
    mkdirSync(dir, {recursive: true})
    const stale = path.join(dir, '.pupistry-tmp-0123456789abcdef')
    const fresh = path.join(dir, '.pupistry-tmp-fedcba9876543210')
    writeFileSync(stale, randomBytes(1024))
    writeFileSync(fresh, randomBytes(1024))
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000)
    utimesSync(stale, twoHoursAgo, twoHoursAgo)

    const doctor = await world.cli('doctor', '--json')
    const report = JSON.parse(doctor.stdout) as {checks?: Check[]; error?: {details: {checks: Check[]}}}
    const checks = report.checks ?? report.error?.details.checks ?? []
    const unfinished = checks.find((check) => check.name === 'unfinished uploads')
    assert.equal(unfinished?.status, 'warn', show(doctor))
    assert.match(unfinished?.detail ?? '', /2 unfinished upload\(s\) .*\.pupistry-tmp-/)

    const pruned = await world.cli('prune', '--grace', '1h')
    assert.equal(pruned.code, 0, show(pruned))
    assert.match(pruned.stdout, /^production: removed 1 unfinished upload\(s\)$/m)
    assert.ok(!existsSync(stale), 'the stale temporary is gone')
    assert.ok(existsSync(fresh), 'a temporary younger than the grace period may be a push at work: kept')
  })
})
