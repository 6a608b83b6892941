import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {
  chmodSync,
  createReadStream,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import {open} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo, Socket} from 'node:net'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {BIN, run, show} from './helpers/cli.js'
import {DaemonProcess} from './helpers/daemon.js'
import {type LocalS3, startS3} from './helpers/s3.js'
import {World} from './helpers/world.js'

async function ok(world: World, ...args: string[]) {
  const result = await world.cli(...args)
  assert.equal(result.code, 0, show(result))
  return result
}

/** Writes another settings file for the same world (a second view of the node). */
function settingsWith(
  world: World,
  name: string,
  agent: Record<string, unknown>,
  general: Record<string, unknown> = {},
): string {
  const file = path.join(world.dir, name)
  writeFileSync(
    file,
    dump({
      ...world.settings,
      agent: {...world.settings.agent, ...agent},
      general: {...world.settings.general, ...general},
    }),
  )
  return file
}

async function newRelease(world: World, text: string): Promise<void> {
  await world.commitToControl('production', (dir) =>
    writeFileSync(path.join(dir, 'manifests', 'daemon.pp'), `# ${text}\n`),
  )
  await ok(world, 'build', '-e', 'production')
  await ok(world, 'push')
}

/**
 * The frame of a daemon suite: a world with production built and pushed
 * (after `prepare`), handed to `use`, and the daemons the suite starts,
 * all cleaned up after it.
 */
function daemonSuite(use: (world: World) => void, prepare?: (world: World) => Promise<void>): DaemonProcess[] {
  const daemons: DaemonProcess[] = []
  let world: World
  before(async () => {
    world = await World.create()
    use(world)
    await prepare?.(world)
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
  })
  after(async () => {
    for (const daemon of daemons) await daemon.dispose()
    world.cleanup()
  })
  return daemons
}

const isRun =
  (serial: number, action = 'installed') =>
  (event: {event: string; serial?: number; action?: string}) =>
    event.event === 'run' && event.serial === serial && event.action === action

describe('the daemon against a file store', () => {
  let world: World
  const daemons = daemonSuite((created) => (world = created))
  const start = (file: string, args: string[] = []) => {
    const daemon = new DaemonProcess(file, args)
    daemons.push(daemon)
    return daemon
  }

  it('installs at start, picks a new push up within one interval, logs JSON lines, and exits 0 on SIGTERM while idle', async () => {
    const file = settingsWith(world, 'daemon.yaml', {daemon_frequency: 2, daemon_minimal: true, daemon_splay: 0})
    const daemon = start(file)
    await daemon.waitFor(isRun(1), {what: 'serial 1 installed'})
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.0.0\n', 'Puppet applied the first release')

    await newRelease(world, 'second')
    const pushedAt = daemon.events.length
    const installed = await daemon.waitFor(isRun(2), {from: pushedAt, what: 'serial 2 installed'})
    // Within one interval: at most the run already under way when the push landed, then the next one.
    const runsBefore = daemon.events
      .slice(pushedAt, daemon.events.indexOf(installed))
      .filter((event) => event.event === 'run')
    assert.ok(runsBefore.length <= 1, daemon.transcript())
    assert.equal(installed.puppetExit, 0, 'daemon_minimal runs Puppet for a new release')

    // Idle again: an unchanged check runs no Puppet under daemon_minimal.
    const idle = await daemon.waitFor(isRun(2, 'current'), {
      from: daemon.events.indexOf(installed) + 1,
      what: 'an unchanged run',
    })
    assert.equal(idle.puppetExit, undefined)
    const stopAsked = Date.now()
    daemon.kill('SIGTERM')
    const exit = await daemon.exited
    const took = Date.now() - stopAsked
    assert.deepEqual(exit, {code: 0, signal: null}, daemon.transcript())
    assert.ok(took < 5000, `stopped ${took} ms after SIGTERM`)
    console.log(`# SIGTERM while idle: exited 0 after ${took} ms`)
    assert.deepEqual(daemon.notJson, [], 'every stdout line is JSON')
    for (const event of daemon.events) {
      assert.ok(event.time && event.level && event.event && typeof event.message === 'string', JSON.stringify(event))
    }

    assert.equal(daemon.events.at(-1)?.event, 'daemon-stop')
    const state = JSON.parse((await ok(world, 'status', '--json')).stdout).environments.find(
      (entry: {environment: string}) => entry.environment === 'production',
    )
    assert.equal(state.installed.lastError, undefined)
    // A stop while idle is not a run: the node stays healthy.
    await ok(world, 'status', '--check')
  })

  it('survives the store going away: backs off exponentially (with jitter, up to the interval) and recovers by itself', async () => {
    const file = settingsWith(world, 'outage.yaml', {daemon_frequency: 8, daemon_minimal: true, daemon_splay: 0})
    const daemon = start(file)
    await daemon.waitFor((event) => event.event === 'run', {what: 'a first run'})
    const moved = `${world.store}-away`
    renameSync(world.store, moved)
    let restored = false
    try {
      const backoffs = []
      for (let failures = 1; failures <= 4; failures++) {
        backoffs.push(
          await daemon.waitFor((event) => event.event === 'backoff' && event.failures === failures, {
            what: `backoff ${failures}`,
          }),
        )
      }

      // Interval 8 s: the base is 1 s, doubling, at most 8 s; jitter keeps each wait in the upper half.
      const ceilings = [1, 2, 4, 8]
      backoffs.forEach((event, index) => {
        assert.ok(
          event.wait! >= ceilings[index] / 2 - 0.1 && event.wait! <= ceilings[index] + 0.1,
          JSON.stringify(event),
        )
      })
      const failed = daemon.events.filter((event) => event.event === 'run-failed')
      assert.ok(failed.length >= 4 && failed.every((event) => event.exitCode === 13), daemon.transcript())
      assert.match(failed[0].message, /store directory .* does not exist/)

      renameSync(moved, world.store)
      restored = true
      const from = daemon.events.length
      await daemon.waitFor((event) => event.event === 'store-recovered', {from, what: 'recovery'})
      await daemon.waitFor((event) => event.event === 'run', {from, what: 'a good run after the outage'})
      assert.ok(daemon.running)
    } finally {
      if (!restored) renameSync(moved, world.store)
      daemon.kill('SIGTERM')
    }

    assert.equal((await daemon.exited).code, 0)
  })

  it('a store that refuses the node (access denied) is no outage: no backoff, the next try after the normal interval', async () => {
    const refusing = http.createServer((_request, response) => {
      response.writeHead(403, {'content-type': 'text/plain'})
      response.end('denied\n')
    })
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve))
    let daemon: DaemonProcess | undefined
    try {
      const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/`
      const agent = {
        allow_insecure_http: true,
        daemon_frequency: 3,
        daemon_minimal: true,
        daemon_splay: 0,
        storage: url,
      }
      daemon = start(settingsWith(world, 'denied.yaml', agent))
      const failed = (event: {event: string}) => event.event === 'run-failed'
      const first = await daemon.waitFor(failed, {what: 'a refused run'})
      const second = await daemon.waitFor(failed, {
        from: daemon.events.indexOf(first) + 1,
        what: 'a second refused run',
      })
      assert.equal(first.exitCode, 13, daemon.transcript())
      assert.match(first.message, /access denied/)
      assert.deepEqual(
        daemon.events.filter((event) => event.event === 'backoff'),
        [],
        daemon.transcript(),
      )
      // A backoff would retry after 0.5 to 1 s; the normal schedule waits the interval (3 s) after a run ends.
      const gap = Date.parse(second.time) - Date.parse(first.time)
      assert.ok(gap >= 2900, `${gap} ms between the refused runs: ${daemon.transcript()}`)
    } finally {
      // Stopped here, not after the suite: its runs take the node's lock, which the next test counts.
      daemon?.kill('SIGTERM')
      await daemon?.exited
      await new Promise((resolve) => refusing.close(resolve))
    }
  })

  it('two daemons on one node never run Puppet (or install) at the same time', async () => {
    // A real puppet behind a wrapper that notices when two runs overlap.
    const marker = path.join(world.dir, 'puppet-running')
    const overlaps = path.join(world.dir, 'overlaps')
    const wrapper = path.join(world.dir, 'puppet-watch.sh')
    writeFileSync(
      wrapper,
      `#!/bin/sh\nmkdir '${marker}' 2>/dev/null || echo overlap >> '${overlaps}'\n` +
        `puppet "$@"\ncode=$?\nrmdir '${marker}' 2>/dev/null\nexit $code\n`,
    )
    chmodSync(wrapper, 0o755)
    const file = settingsWith(world, 'two.yaml', {daemon_frequency: 1, daemon_splay: 0, puppet: wrapper})
    const first = start(file)
    const second = start(file)
    const runs = () => [...first.events, ...second.events].filter((event) => event.event === 'run').length
    const locked = () =>
      [...first.events, ...second.events].filter((event) => event.event === 'run-failed' && event.exitCode === 22)
        .length
    await newRelease(world, 'contended')
    await first.waitFor(() => runs() >= 6 && locked() >= 1, {what: 'six runs and at least one locked out'})
    first.kill('SIGTERM')
    second.kill('SIGTERM')
    assert.equal((await first.exited).code, 0)
    assert.equal((await second.exited).code, 0)
    assert.equal(existsSync(overlaps) ? readFileSync(overlaps, 'utf8') : 'none', 'none', 'overlapping Puppet runs')
    for (const daemon of [first, second]) {
      for (const event of daemon.events.filter((entry) => entry.event === 'run-failed'))
        assert.equal(event.exitCode, 22, daemon.transcript())
    }
  })
})

describe('the daemon against the local S3 server', () => {
  let s3: LocalS3
  let world: World
  let daemon: DaemonProcess | undefined
  const credentials = {access_key_id: 'S3RVER', region: 'us-east-1', secret_access_key: 'S3RVER'}
  before(async () => {
    s3 = await startS3(['fleet'])
    world = await World.create({
      agent: {...credentials},
      build: {...credentials},
      general: {s3_endpoint: s3.endpoint, storage: 's3://fleet/daemon'},
    })
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
  })
  after(async () => {
    await daemon?.dispose()
    world.cleanup()
    await s3.stop()
  })

  it('picks up a new push, rides out the server dropping every connection, and recovers', async () => {
    daemon = new DaemonProcess(
      settingsWith(world, 's3-daemon.yaml', {daemon_frequency: 4, daemon_minimal: true, daemon_splay: 0}),
    )
    await daemon.waitFor(isRun(1), {what: 'serial 1 installed'})
    await newRelease(world, 'over s3')
    await daemon.waitFor(isRun(2), {what: 'serial 2 installed'})

    s3.down = true
    let from = 0
    try {
      await daemon.waitFor((event) => event.event === 'backoff' && event.failures === 2, {what: 'two failed tries'})
      assert.ok(
        daemon.events.filter((event) => event.event === 'run-failed').every((event) => event.exitCode === 13),
        daemon.transcript(),
      )
    } finally {
      from = daemon.events.length
      s3.down = false
    }

    await daemon.waitFor((event) => event.event === 'store-recovered', {from, what: 'recovery'})
    await newRelease(world, 'after the outage')
    await daemon.waitFor(isRun(3), {what: 'serial 3 installed after the outage'})
    daemon.kill('SIGTERM')
    assert.equal((await daemon.exited).code, 0)
  })
})

/** True while a process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('stopping Puppet: agent.stop_timeout and agent.run_timeout', () => {
  let world: World
  let pidFile: string
  const daemons = daemonSuite(
    (created) => (world = created),
    async (created) => {
      pidFile = path.join(created.dir, 'slow.pid')
      // A catalog that takes a minute: an exec whose command records its pid, then sleeps.
      await created.commitToControl('production', (dir) =>
        writeFileSync(
          path.join(dir, 'manifests', 'slow.pp'),
          `exec { 'slow': command => "/bin/sh -c 'echo \\$\\$ > ${pidFile}; exec sleep 60'", timeout => 120 }\n`,
        ),
      )
    },
  )

  const slowPid = () => Number.parseInt(readFileSync(pidFile, 'utf8'), 10)
  // On a loaded machine the timeout may strike before Puppet reaches the exec: then there is nothing left to stop.
  const slowGone = () => !existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '' || !alive(slowPid())

  it('SIGTERM lets a running Puppet go on for agent.stop_timeout, then stops its process group, and exits 0', async () => {
    rmSync(pidFile, {force: true})
    const daemon = new DaemonProcess(
      settingsWith(world, 'stop.yaml', {daemon_frequency: 300, daemon_splay: 0, stop_timeout: 2}),
    )
    daemons.push(daemon)
    await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the slow exec to start')
    const pid = slowPid()
    const asked = Date.now()
    daemon.kill('SIGTERM')
    const exit = await daemon.exited
    const took = Date.now() - asked
    assert.deepEqual(exit, {code: 0, signal: null}, daemon.transcript())
    assert.ok(took >= 1900, `Puppet got its stop_timeout (${took} ms)`)
    const stopped = daemon.events.find((event) => event.event === 'run-stopped')
    assert.match(stopped?.message ?? '', /did not finish within agent\.stop_timeout \(2 s\)/, daemon.transcript())
    await until(() => !alive(pid), "the exec's process (Puppet's process group) to be gone", 30_000)
    assert.ok(world.activeVersion(), 'the release stays active')
    // Puppet was stopped halfway: the node has not converged, although the daemon exited 0.
    const check = await world.cli('status', '--check')
    assert.equal(check.code, 40, show(check))
    assert.match(`${check.stdout}${check.stderr}`, /was interrupted \(exit code 24\): Puppet did not finish within/)
  })

  it('a run over agent.run_timeout is stopped and reported (exit 23), and the daemon goes on', async () => {
    rmSync(pidFile, {force: true})
    const daemon = new DaemonProcess(
      settingsWith(world, 'timeout.yaml', {daemon_frequency: 300, daemon_splay: 0, run_timeout: 8, stop_timeout: 0}),
    )
    daemons.push(daemon)
    const failed = await daemon.waitFor((event) => event.event === 'run-failed', {what: 'the run to time out'})
    assert.equal(failed.exitCode, 23, daemon.transcript())
    assert.match(failed.message, /took longer than agent\.run_timeout \(8 s\) and was stopped/)
    await until(slowGone, "the exec's process to be gone", 30_000)
    assert.ok(daemon.running, 'the daemon keeps running')
    daemon.kill('SIGTERM')
    assert.equal((await daemon.exited).code, 0)

    const status = JSON.parse((await ok(world, 'status', '--json')).stdout).environments.find(
      (entry: {environment: string}) => entry.environment === 'production',
    )
    assert.match(status.installed.lastError, /run_timeout/)
  })

  for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
    it(`a single apply stops at once on ${signal}, Puppet and its exec included, and exits 24`, async () => {
      rmSync(pidFile, {force: true})
      const child = spawn(process.execPath, [BIN, 'apply', '--config', world.settingsFile], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
      await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the slow exec to start')
      const pid = slowPid()
      child.kill(signal)
      assert.equal(await exited, 24, stderr)
      assert.match(stderr, /interrupted: Puppet was stopped before it finished applying the active release/)
      await until(() => !alive(pid), "the exec's process to be gone", 30_000)
    })
  }

  it('a single apply over agent.run_timeout exits 23 too', async () => {
    rmSync(pidFile, {force: true})
    const file = settingsWith(world, 'single.yaml', {run_timeout: 8})
    const result = await world.cliWith(file, 'apply')
    assert.equal(result.code, 23, show(result))
    assert.match(result.stderr, /took longer than agent\.run_timeout/)
    await until(slowGone, "the exec's process to be gone", 30_000)
  })

  // Last in this suite: it ends by removing the slow exec.
  it(
    'SIGINT while Puppet runs a new release: exit 24, the message and status --check say it was activated ' +
      'and Puppet stopped, until a run completes',
    async () => {
      rmSync(pidFile, {force: true})
      await newRelease(world, 'interrupted')
      const child = spawn(process.execPath, [BIN, 'apply', '--config', world.settingsFile], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
      await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the slow exec to start')
      child.kill('SIGINT')
      assert.equal(await exited, 24, stderr)
      const outcome = /interrupted: release \w+ was activated and Puppet was stopped before it finished applying it/
      assert.match(stderr, outcome)
      assert.doesNotMatch(stderr, /nothing half-done/)

      const check = await world.cli('status', '--check')
      assert.equal(check.code, 40, show(check))
      assert.match(`${check.stdout}${check.stderr}`, /was interrupted \(exit code 24\)/, show(check))
      assert.match(`${check.stdout}${check.stderr}`, outcome, show(check))

      await world.commitToControl('production', (dir) => rmSync(path.join(dir, 'manifests', 'slow.pp')))
      await ok(world, 'build', '-e', 'production')
      await ok(world, 'push')
      await ok(world, 'apply')
      await ok(world, 'status', '--check')
    },
  )
})

/** A plain-HTTP mirror of a file store on loopback that sends artifacts very slowly. */
async function slowMirror(root: string): Promise<{url: string; artifactRequests: number; close(): Promise<void>}> {
  const sockets = new Set<Socket>()
  const mirror = {
    artifactRequests: 0,
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
    url: '',
  }
  const server = http.createServer((request, response) => {
    const file = path.join(root, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname))
    let size
    try {
      size = statSync(file).size
    } catch {
      response.writeHead(404).end()
      return
    }

    response.writeHead(200, {'content-length': size})
    if (!file.includes('/artifacts/')) return void createReadStream(file).pipe(response)
    mirror.artifactRequests++
    // 4 KB every 200 ms: a transfer that would take minutes.
    const stream = createReadStream(file, {highWaterMark: 4096})
    stream.on('data', (chunk) => {
      stream.pause()
      response.write(chunk)
      setTimeout(() => stream.resume(), 200)
    })
    stream.on('end', () => response.end())
  })
  server.on('connection', (socket) => sockets.add(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  mirror.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  return mirror
}

/** SIGTERM in the middle of a run: exit 0 at once, the run logged as stopped, the previous release active, nothing half-written left. */
async function stopsAtOnce(
  world: World,
  daemon: DaemonProcess,
  active: string | undefined,
  during: string,
): Promise<void> {
  const asked = Date.now()
  daemon.kill('SIGTERM')
  const exit = await daemon.exited
  const took = Date.now() - asked
  assert.deepEqual(exit, {code: 0, signal: null}, daemon.transcript())
  assert.ok(took < 5000, `stopped ${took} ms after SIGTERM`)
  console.log(`# SIGTERM during ${during}: exited 0 after ${took} ms`)
  assert.ok(
    daemon.events.some((event) => event.event === 'run-stopped'),
    daemon.transcript(),
  )
  assert.equal(world.activeVersion(), active)
  const releases = path.join(path.dirname(world.puppetcode), 'pupistry-releases', 'production')
  assert.deepEqual(
    readdirSync(releases).filter((name) => name.startsWith('.')),
    [],
    'no partial download or staging directory is left',
  )
}

describe('daemon signals: SIGHUP reloads, SIGTERM abandons a download at once', () => {
  let world: World
  const daemons = daemonSuite((created) => (world = created))

  it('SIGHUP reads the settings again and runs with them at once; broken settings are logged and the old ones kept', async () => {
    const file = settingsWith(world, 'hup.yaml', {daemon_frequency: 600, daemon_minimal: true, daemon_splay: 0})
    const daemon = new DaemonProcess(file)
    daemons.push(daemon)
    await daemon.waitFor(isRun(1), {what: 'the first run'})
    const unchanged = daemon.events.length
    writeFileSync(file, readFileSync(file, 'utf8').replace('daemon_minimal: true', 'daemon_minimal: false'))
    process.kill(daemon.pid, 'SIGHUP')
    await daemon.waitFor((event) => event.event === 'reload', {from: unchanged, what: 'the reload'})
    const rerun = await daemon.waitFor((event) => event.event === 'run', {
      from: unchanged,
      what: 'a run right after the reload',
    })
    assert.equal(rerun.action, 'current')
    assert.notEqual(rerun.puppetExit, undefined, 'daemon_minimal: false now: Puppet runs without a new release')

    const before = daemon.events.length
    writeFileSync(file, 'agent:\n  daemon_frequency: often\n')
    process.kill(daemon.pid, 'SIGHUP')
    const failed = await daemon.waitFor((event) => event.event === 'reload-failed', {
      from: before,
      what: 'the failed reload',
    })
    assert.match(failed.message, /daemon_frequency/)
    await daemon.waitFor((event) => event.event === 'run', {from: before, what: 'a run with the old settings'})
    daemon.kill('SIGTERM')
    assert.equal((await daemon.exited).code, 0)
  })

  it('SIGTERM while SIGHUP reads the settings stops the daemon without starting another run', async () => {
    const file = settingsWith(world, 'hup-term.yaml', {daemon_frequency: 600, daemon_splay: 0})
    const daemon = new DaemonProcess(file)
    daemons.push(daemon)
    await daemon.waitFor((event) => event.event === 'run', {what: 'the first run'})
    const from = daemon.events.length
    // The settings file becomes a named pipe: the reload's read waits for the test, which sends SIGTERM meanwhile.
    const content = readFileSync(file)
    const fifo = `${file}.fifo`
    await run('mkfifo', ['-m', '0600', fifo])
    renameSync(fifo, file)
    process.kill(daemon.pid, 'SIGHUP')
    const writer = await open(file, 'w')
    process.kill(daemon.pid, 'SIGTERM')
    await writer.writeFile(content)
    await writer.close()
    assert.deepEqual(await daemon.exited, {code: 0, signal: null}, daemon.transcript())
    const after = daemon.events.slice(from).map((event) => event.event)
    // Not even a run that starts and is abandoned: no `run-stopped`, no "running puppet apply" message.
    assert.deepEqual(after, ['reload', 'daemon-stop'], daemon.transcript())
  })

  it('SIGTERM during a download abandons it at once, exits 0, keeps the previous release and leaves nothing behind', async () => {
    await world.commitToControl('production', (dir) =>
      writeFileSync(
        path.join(dir, 'noise.bin'),
        Buffer.from(Array.from({length: 512 * 1024}, () => Math.floor(Math.random() * 256))),
      ),
    )
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
    const mirror = await slowMirror(world.store)
    try {
      const file = settingsWith(world, 'slow.yaml', {
        allow_insecure_http: true,
        daemon_frequency: 600,
        daemon_splay: 0,
        storage: mirror.url,
      })
      const before = world.activeVersion()
      assert.ok(before)
      const daemon = new DaemonProcess(file, ['--verbose'])
      daemons.push(daemon)
      await daemon.waitFor((event) => /downloading serial 2/.test(event.message), {what: 'the download to start'})
      await until(() => mirror.artifactRequests > 0, 'the artifact request')
      await stopsAtOnce(world, daemon, before, 'a download')
    } finally {
      await mirror.close()
    }
  })

  it('SIGTERM during an unpack abandons it at once (the unpacking thread is stopped), exits 0 and keeps the previous release', async () => {
    const file = settingsWith(world, 'unpack.yaml', {daemon_frequency: 600, daemon_splay: 0})
    const before = world.activeVersion()
    // The test-only hook holds the unpacking thread mid-way; the daemon's main thread stays responsive.
    const daemon = new DaemonProcess(file, [], {PUPISTRY_TEST_PAUSE_AT: 'unpack'})
    daemons.push(daemon)
    await until(() => daemon.stderr.includes('test pause at unpack'), 'the unpack to be under way')
    await stopsAtOnce(world, daemon, before, 'an unpack')
  })
})
