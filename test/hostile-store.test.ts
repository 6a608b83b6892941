import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createReadStream, readFileSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import type http from 'node:http'
import https from 'node:https'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {type CliResult, runCli, show} from './helpers/cli.js'
import {DaemonProcess} from './helpers/daemon.js'
import {selfSignedCert} from './helpers/nginx.js'
import {type LocalS3, startS3} from './helpers/s3.js'
import {World} from './helpers/world.js'

/** How a hostile or broken server answers a request for the artifact. */
type Misbehaviour = 'endless' | 'huge' | 'stall' | 'redirect' | 'silent'

const STALL_SECONDS = 2

/** Answers as a server that never ends, lies about the length, stalls, loops or never answers. */
function misbehave(how: Misbehaviour, request: http.IncomingMessage, response: http.ServerResponse): void {
  request.resume()
  const endless = () => {
    const chunk = Buffer.alloc(64 * 1024)
    const pump = () => {
      while (!response.destroyed && response.write(chunk));
      if (!response.destroyed) response.once('drain', pump)
    }

    pump()
  }

  if (how === 'endless') {
    response.writeHead(200, {'content-type': 'application/gzip'})
    endless()
  } else if (how === 'huge') {
    response.writeHead(200, {'content-length': '1000000000000000', 'content-type': 'application/gzip'})
    endless()
  } else if (how === 'stall') {
    response.writeHead(200, {'content-length': '5000000', 'content-type': 'application/gzip'})
    response.write(Buffer.alloc(1000))
  } else if (how === 'redirect') {
    response.writeHead(307, {location: request.url})
    response.end()
  }
  // 'silent': no answer at all, the connection stays open.
}

async function ok(world: World, ...args: string[]): Promise<CliResult> {
  const result = await world.cli(...args)
  assert.equal(result.code, 0, show(result))
  return result
}

async function newRelease(world: World, text: string): Promise<void> {
  await world.commitToControl('production', (dir) =>
    writeFileSync(path.join(dir, 'manifests', 'hostile.pp'), `# ${text}\n`),
  )
  await ok(world, 'build', '-e', 'production')
  await ok(world, 'push')
}

/** Runs apply with `settings`, and asserts it ended with `code`, in bounded time, keeping the installed release. */
async function assertGivesUp(
  world: World,
  settings: string,
  code: number,
  reason: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  const active = world.activeVersion()
  const started = Date.now()
  const result = await runCli(['apply', '--minimal', '--config', settings], {cwd: world.dir, env})
  const seconds = (Date.now() - started) / 1000
  assert.equal(result.code, code, show(result))
  assert.match(result.stderr, reason)
  // Three tries, each bounded by the stall timeout, and the waits between them: far below agent.run_timeout.
  assert.ok(seconds < 60, `gave up after ${seconds} s`)
  assert.equal(world.activeVersion(), active, 'the installed release stays')
}

describe('an HTTPS mirror that misbehaves, and a FIFO pointer under the daemon', () => {
  let world: World
  let server: https.Server
  let how: Misbehaviour | undefined
  let settings: string
  let ca: string

  before(async () => {
    world = await World.create()
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
    await ok(world, 'apply', '--minimal')
    // A release the node has not got: every case below is about downloading it.
    await newRelease(world, 'second')

    const tls = await selfSignedCert(world.dir)
    ca = tls.cert
    // A mirror serving the store's files, except that the artifact (or the pointer, for 'silent') misbehaves on request.
    server = https.createServer({cert: readFileSync(tls.cert), key: readFileSync(tls.key)}, (request, response) => {
      const url = decodeURIComponent(new URL(request.url ?? '/', 'https://127.0.0.1').pathname)
      const target = how === 'silent' ? /latest\.json$/ : /\/artifacts\//
      if (how && target.test(url)) return misbehave(how, request, response)
      const file = path.join(world.store, url)
      if (!file.startsWith(`${world.store}/`) || !statSync(file, {throwIfNoEntry: false})?.isFile()) {
        response.writeHead(404).end()
        return
      }

      response.writeHead(200, {'content-length': statSync(file).size})
      createReadStream(file).pipe(response)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    settings = path.join(world.dir, 'mirror-node.yaml')
    const port = (server.address() as AddressInfo).port
    writeFileSync(
      settings,
      dump({
        ...world.settings,
        agent: {
          ...world.settings.agent,
          run_timeout: 600,
          storage: `https://127.0.0.1:${port}/`,
          transfer_timeout: STALL_SECONDS,
        },
      }),
    )
  })
  after(() => {
    server?.closeAllConnections()
    server?.close()
    world?.cleanup()
  })

  for (const [name, misbehaviour, code, reason] of [
    [
      'an artifact that never ends is cut off at its signed size',
      'endless',
      20,
      /longer than the \d+ bytes signed in the manifest; refused/,
    ],
    [
      'a huge Content-Length changes nothing: the signed size counts',
      'huge',
      20,
      /longer than the \d+ bytes signed in the manifest; refused/,
    ],
    [
      'a response that stalls half-way is given up after agent.transfer_timeout, three times',
      'stall',
      13,
      /no data for 2 s/,
    ],
    ['a redirect loop ends after a few hops', 'redirect', 13, /more than 5 redirects/],
    ['a server that never answers is given up after agent.transfer_timeout', 'silent', 13, /no answer within 2 s/],
  ] as const) {
    it(name, async () => {
      how = misbehaviour
      try {
        await assertGivesUp(world, settings, code, reason, {NODE_EXTRA_CA_CERTS: ca})
      } finally {
        how = undefined
      }
    })
  }

  it('the well-behaved mirror then installs the release', async () => {
    const before = world.activeVersion()
    const result = await runCli(['apply', '--minimal', '--config', settings], {
      cwd: world.dir,
      env: {NODE_EXTRA_CA_CERTS: ca},
    })
    assert.equal(result.code, 0, show(result))
    assert.notEqual(world.activeVersion(), before)
  })

  it(
    'a daemon survives a FIFO as the pointer, keeps its schedule, installs once the pointer is repaired, ' +
      'and stops on SIGTERM',
    async () => {
      await newRelease(world, 'third')
      const pointer = world.storePath('production', 'latest.json')
      const good = readFileSync(pointer)
      rmSync(pointer)
      execFileSync('mkfifo', [pointer])
      const file = path.join(world.dir, 'fifo-daemon.yaml')
      writeFileSync(
        file,
        dump({
          ...world.settings,
          agent: {...world.settings.agent, daemon_frequency: 1, daemon_minimal: true, daemon_splay: 0},
        }),
      )
      const daemon = new DaemonProcess(file)
      try {
        // More failed runs than libuv has pool threads (4): a blocking open would have used them all up by now.
        // A special file is not an outage ('invalid', not 'unreachable'): the daemon keeps its interval, no backoff.
        await daemon.waitFor((event) => event.event === 'run-failed' && countFailed(daemon) >= 6, {
          what: 'six failed runs',
        })
        assert.ok(!daemon.events.some((event) => event.event === 'backoff'), daemon.transcript())

        const failed = daemon.events.filter((event) => event.event === 'run-failed')
        assert.ok(
          failed.every(
            (event) => event.exitCode === 13 && /it is a FIFO \(named pipe\), not a regular file/.test(event.message),
          ),
          daemon.transcript(),
        )
        const from = daemon.events.length
        writeFileSync(`${pointer}.new`, good)
        renameSync(`${pointer}.new`, pointer)
        const installed = await daemon.waitFor((event) => event.event === 'run' && event.action === 'installed', {
          from,
          what: 'the install after the repair',
        })
        assert.equal(installed.version, world.activeVersion()?.split('.')[0])
      } finally {
        daemon.kill('SIGTERM')
      }

      assert.deepEqual(await daemon.exited, {code: 0, signal: null}, daemon.transcript())
    },
  )
})

describe('an S3 endpoint that misbehaves', () => {
  let s3: LocalS3
  let world: World
  let how: Misbehaviour | undefined
  let settings: string
  const credentials = {access_key_id: 'S3RVER', region: 'us-east-1', secret_access_key: 'S3RVER'}

  before(async () => {
    s3 = await startS3(['fleet'])
    s3.intercept = (request, response) => {
      if (!how || request.method !== 'GET' || !/\/artifacts\//.test(request.url ?? '')) return false
      misbehave(how, request, response)
      return true
    }

    world = await World.create({
      agent: {...credentials},
      build: {...credentials},
      general: {s3_endpoint: s3.endpoint, storage: 's3://fleet/hostile'},
    })
    await ok(world, 'build', '-e', 'production')
    await ok(world, 'push')
    await ok(world, 'apply', '--minimal')
    await newRelease(world, 'second')
    settings = path.join(world.dir, 's3-node.yaml')
    writeFileSync(
      settings,
      dump({...world.settings, agent: {...world.settings.agent, run_timeout: 600, transfer_timeout: STALL_SECONDS}}),
    )
  })
  after(async () => {
    world?.cleanup()
    await s3?.stop()
  })

  for (const [name, misbehaviour, code, reason] of [
    [
      'an object that never ends is cut off at its signed size',
      'endless',
      20,
      /longer than the \d+ bytes signed in the manifest; refused/,
    ],
    [
      'a huge Content-Length changes nothing: the signed size counts',
      'huge',
      20,
      /longer than the \d+ bytes signed in the manifest; refused/,
    ],
    [
      'a response that stalls half-way is given up after agent.transfer_timeout, three times',
      'stall',
      13,
      /download of .* failed after 1000 bytes/,
    ],
    ['a redirect loop is an error, not followed', 'redirect', 13, /s3:\/\/fleet\/hostile\//],
  ] as const) {
    it(name, async () => {
      how = misbehaviour
      try {
        await assertGivesUp(world, settings, code, reason)
      } finally {
        how = undefined
      }
    })
  }

  it('the well-behaved endpoint then installs the release', async () => {
    const before = world.activeVersion()
    const result = await runCli(['apply', '--minimal', '--config', settings], {cwd: world.dir})
    assert.equal(result.code, 0, show(result))
    assert.notEqual(world.activeVersion(), before)
  })
})

function countFailed(daemon: DaemonProcess): number {
  return daemon.events.filter((event) => event.event === 'run-failed').length
}
