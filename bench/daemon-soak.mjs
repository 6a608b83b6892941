#!/usr/bin/env node
// Soak run of the daemon: `pupistry apply --daemon` with a 1-second interval
// against a file store that gets a new build pushed every 30 s. Samples the
// daemon's resident memory and open file descriptors, and checks from its
// JSON log that every pushed version was installed (and applied) exactly once.
// Prints figures; exits non-zero only when a command fails or a version was
// missed or installed twice, never because something is slow.
//
//   node bench/daemon-soak.mjs
//
// Environment:
//   SOAK_SECONDS   how long the daemon runs (default 600)
//   SOAK_PUSH      seconds between pushes (default 30)
//   SOAK_SAMPLE    seconds between memory/fd samples (default 5)
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const seconds = wholeNumber('SOAK_SECONDS', 600)
const pushEvery = wholeNumber('SOAK_PUSH', 30)
const sampleEvery = wholeNumber('SOAK_SAMPLE', 5)
const bin = path.join(repo, 'bin', 'run.js')

function wholeNumber(name, fallback) {
  const value = process.env[name] ?? String(fallback)
  if (!/^[1-9]\d*$/.test(value)) {
    console.error(`daemon-soak: ${name} must be a whole number above 0 (got '${value}')`)
    process.exit(1)
  }

  return Number(value)
}

try {
  readFileSync(path.join(repo, 'dist', 'commands', 'apply.js'))
} catch {
  console.error(`daemon-soak: dist/ is missing: run 'npm run build' in ${repo} first`)
  process.exit(1)
}

const tmp = mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), 'pupistry-bench-soak-'))
let daemon
const cleanup = () => {
  daemon?.kill('SIGKILL')
  rmSync(tmp, {force: true, recursive: true})
}

process.on('exit', cleanup)
process.on('SIGINT', () => process.exit(130))
process.on('SIGTERM', () => process.exit(143))

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_EMAIL: 'soak@example.invalid',
  GIT_AUTHOR_NAME: 'soak',
  GIT_COMMITTER_EMAIL: 'soak@example.invalid',
  GIT_COMMITTER_NAME: 'soak',
}
const quietly = (command, args, options = {}) =>
  execFileSync(command, args, {encoding: 'utf8', env: gitEnv, stdio: ['ignore', 'pipe', 'pipe'], ...options})
const pupistry = (...args) => quietly(process.execPath, [bin, ...args, '--config', settingsFile])

// A control repo, a file store, keys and settings, as on a small real fleet.
quietly('bash', [
  path.join(repo, 'test', 'fixtures', 'make-control-repo.sh'),
  path.join(tmp, 'repos'),
  path.join(tmp, 'target'),
])
const settingsFile = path.join(tmp, 'settings.yaml')
const keys = path.join(tmp, 'keys')
writeFileSync(
  settingsFile,
  [
    'general:',
    `  app_cache: ${tmp}/cache`,
    `  storage: file://${tmp}/store`,
    `  signing_key_file: ${keys}/pupistry-signing.secret.asc`,
    `  trusted_keys: ${keys}/pupistry-signing.public.asc`,
    'agent:',
    `  puppetcode: ${tmp}/code/environments`,
    '  daemon_frequency: 1',
    '  daemon_splay: 0',
    '  daemon_minimal: true',
    'build:',
    `  puppetcode: file://${tmp}/repos/control.git`,
    '',
  ].join('\n'),
)
quietly('mkdir', ['-p', path.join(tmp, 'store')])
pupistry('keys', 'generate', '--dir', keys, '--user-id', 'Soak <soak@example.invalid>')
const work = path.join(tmp, 'work')
quietly('git', ['clone', '-q', '--branch', 'production', path.join(tmp, 'repos', 'control.git'), work])

let pushes = 0
function pushNewVersion() {
  pushes++
  writeFileSync(path.join(work, 'manifests', 'soak.pp'), `notify { 'soak version ${pushes}': }\n`)
  quietly('git', ['-C', work, 'commit', '-qam', `soak ${pushes}`])
  quietly('git', ['-C', work, 'push', '-q', 'origin', 'production'])
  pupistry('build', '-e', 'production')
  return Number(/as serial (\d+)/.exec(pupistry('push'))[1])
}

function addSoakFile() {
  writeFileSync(path.join(work, 'manifests', 'soak.pp'), "notify { 'soak version 0': }\n")
  quietly('git', ['-C', work, 'add', '-A'])
  quietly('git', ['-C', work, 'commit', '-qm', 'soak file'])
}

addSoakFile()
const published = [pushNewVersion()]

const events = []
daemon = spawn(process.execPath, [bin, 'apply', '--daemon', '--log-format', 'json', '--config', settingsFile], {
  stdio: ['ignore', 'pipe', 'ignore'],
})
let buffer = ''
daemon.stdout.on('data', (chunk) => {
  buffer += chunk.toString('utf8')
  for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
    events.push(JSON.parse(buffer.slice(0, newline)))
    buffer = buffer.slice(newline + 1)
  }
})

const samples = []
function sample() {
  const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8')
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)[1])
  const fds = readdirSync(`/proc/${daemon.pid}/fd`).length
  samples.push({fds, rssMb: rssKb / 1024, t: (Date.now() - started) / 1000})
}

const started = Date.now()
console.log(`daemon-soak: daemon pid ${daemon.pid}, interval 1 s, a push every ${pushEvery} s, for ${seconds} s`)
const sampler = setInterval(sample, sampleEvery * 1000)
const pusher = setInterval(() => {
  published.push(pushNewVersion())
}, pushEvery * 1000)
await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
clearInterval(pusher)
clearInterval(sampler)
// Let the last push be picked up before stopping.
const lastSerial = published.at(-1)
const deadline = Date.now() + 60_000
while (
  !events.some((event) => event.event === 'run' && event.serial === lastSerial && event.action === 'installed') &&
  Date.now() < deadline
) {
  await new Promise((resolve) => setTimeout(resolve, 200))
}

sample()
daemon.kill('SIGTERM')
const code = await new Promise((resolve) => daemon.on('exit', (exitCode) => resolve(exitCode)))

const runs = events.filter((event) => event.event === 'run')
const failed = events.filter((event) => event.event === 'run-failed')
const installs = runs.filter((event) => event.action === 'installed')
const perSerial = new Map()
for (const event of installs) perSerial.set(event.serial, (perSerial.get(event.serial) ?? 0) + 1)
const missed = published.filter((serial) => !perSerial.has(serial))
const twice = [...perSerial].filter(([, count]) => count > 1).map(([serial]) => serial)
const puppetRuns = runs.filter((event) => event.puppetExit !== undefined)
const badPuppet = puppetRuns.filter((event) => event.puppetExit !== 0 && event.puppetExit !== 2)

const third = Math.max(1, Math.floor(samples.length / 3))
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const early = samples.slice(1, 1 + third) // the first sample is taken before the first run's imports settle
const late = samples.slice(-third)
const fmt = (value) => value.toFixed(1)
console.log(
  `runs: ${runs.length} (${failed.length} failed), installs: ${installs.length}, pushes: ` +
    `${published.length}, Puppet runs: ${puppetRuns.length}`,
)
const exactlyOnce =
  missed.length === 0 && twice.length === 0
    ? 'yes'
    : `NO (missed serials ${missed.join(', ') || '-'}; twice ${twice.join(', ') || '-'})`
console.log(`every version installed exactly once: ${exactlyOnce}`)
console.log(`Puppet runs that failed: ${badPuppet.length}`)
console.log(
  `RSS MB: first ${fmt(samples[0].rssMb)}, median of the first third ` +
    `${fmt(median(early.map((s) => s.rssMb)))}, median of the last third ` +
    `${fmt(median(late.map((s) => s.rssMb)))}, max ${fmt(Math.max(...samples.map((s) => s.rssMb)))}, last ${fmt(samples.at(-1).rssMb)}`,
)
console.log(
  `open fds: first ${samples[0].fds}, median of the first third ${median(early.map((s) => s.fds))}, ` +
    `median of the last third ${median(late.map((s) => s.fds))}, max ${Math.max(...samples.map((s) => s.fds))}, last ${samples.at(-1).fds}`,
)
const perMinute = samples.filter(
  (entry, index) => index === 0 || Math.floor(entry.t / 60) > Math.floor(samples[index - 1].t / 60),
)
console.log(`RSS MB by minute: ${perMinute.map((entry) => fmt(entry.rssMb)).join(' ')}`)
console.log(`samples: ${samples.length} every ${sampleEvery} s; daemon exit code after SIGTERM: ${code}`)
if (missed.length > 0 || twice.length > 0 || code !== 0) process.exit(1)
