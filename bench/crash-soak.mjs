#!/usr/bin/env node
// Crash soak: many `pupistry apply` runs killed with SIGKILL, at every named
// pause step (PUPISTRY_TEST_PAUSE_AT, src/agent/pause.ts) in turn and at random
// moments, against a file store that gets a new release every few runs.
// After every kill it checks that the active release and every kept release
// are complete and are one of the published versions, file by file; every
// SOAK_CHECK_EVERY runs an uninterrupted run must install the newest release.
// Puppet is a fake command (/bin/true), so a run costs about one Node start.
//
//   node bench/crash-soak.mjs
//
// Environment:
//   SOAK_RUNS          killed runs (default 1000)
//   SOAK_PUSH_EVERY    runs between two pushes (default 5)
//   SOAK_CHECK_EVERY   runs between two uninterrupted runs (default 25)
//   SOAK_MAX_MINUTES   stop early after this long, whatever is left (default 120)
//
// Prints the runs, where they were killed, how many left an incomplete or
// wrong release (goal 0) and the time taken; exits 1 when any did, or when a
// command it needs fails.
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {makeNodeWorld} from './lib/node-world.mjs'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(repo, 'bin', 'run.js')
const runs = wholeNumber('SOAK_RUNS', 1000)
const pushEvery = wholeNumber('SOAK_PUSH_EVERY', 5)
const checkEvery = wholeNumber('SOAK_CHECK_EVERY', 25)
const maxMinutes = wholeNumber('SOAK_MAX_MINUTES', 120)
const STEPS = [
  'download',
  'downloaded',
  'unpack',
  'unpacked',
  'committed',
  'link',
  'activated',
  'state',
  'prune',
  'puppet',
]
const VERSIONS = 3

function wholeNumber(name, fallback) {
  const value = process.env[name] ?? String(fallback)
  if (!/^[1-9]\d*$/.test(value)) {
    console.error(`crash-soak: ${name} must be a whole number above 0 (got '${value}')`)
    process.exit(1)
  }

  return Number(value)
}

let packTree
try {
  ;({packTree} = await import(new URL('../dist/artifact/pack.js', import.meta.url).href))
} catch {
  console.error(`crash-soak: dist/ is missing: run 'npm run build' in ${repo} first`)
  process.exit(1)
}

const tmp = mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), 'pupistry-bench-crash-'))
const children = new Set()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(tmp, {force: true, recursive: true})
})
process.on('SIGINT', () => process.exit(130))
process.on('SIGTERM', () => process.exit(143))

const {appCache, puppetcode, pupistry, settingsFile} = makeNodeWorld(tmp, {
  agent: ['keep_releases: 2'],
  bin,
  userId: 'Crash soak <soak@example.invalid>',
})
const releasesRoot = path.join(tmp, 'code', 'pupistry-releases', 'production')

/** Path → what it is (file hash and exec bit, link target, directory) for every entry below root. */
function listing(root) {
  const found = new Map()
  const walk = (dir, prefix) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name)
      const rel = prefix ? `${prefix}/${name}` : name
      const info = lstatSync(full)
      if (info.isSymbolicLink()) found.set(rel, `link ${readlinkSync(full)}`)
      else if (info.isDirectory()) {
        found.set(rel, 'dir')
        walk(full, rel)
      } else
        found.set(
          rel,
          `file ${info.mode & 0o100 ? 'x' : '-'} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`,
        )
    }
  }

  walk(root, '')
  return found
}

// Three releases: a few hundred small files (unpacking takes a while, so random kills land in it) and one larger file.
const expected = new Map()
const records = []
for (let index = 0; index < VERSIONS; index++) {
  const tree = path.join(tmp, `tree-${index}`)
  mkdirSync(path.join(tree, 'manifests'), {recursive: true})
  writeFileSync(path.join(tree, 'manifests', 'site.pp'), `notify { 'soak release ${index}': }\n`)
  for (let module = 0; module < 20; module++) {
    const dir = path.join(tree, 'modules', `m${module}`, 'manifests')
    mkdirSync(dir, {recursive: true})
    for (let file = 0; file < 20; file++)
      writeFileSync(
        path.join(dir, `c${file}.pp`),
        `class m${module}::c${file} { # release ${index}\n}\n`.repeat(1 + file),
      )
  }

  writeFileSync(
    path.join(tree, 'modules', 'm0', 'data.bin'),
    createHash('sha512').update(String(index)).digest().toString('hex').repeat(30_000),
  )
  const file = path.join(tmp, `artifact-${index}.tar.gz`)
  const packed = await packTree(tree, file)
  expected.set(packed.sha256, listing(tree))
  records.push({file, packed})
}

/** Records a staged release in the build cache as `pupistry build` would, so `push` publishes it with the next serial. */
function push(index) {
  const {file, packed} = records[index]
  const dir = path.join(appCache, 'build', 'production')
  mkdirSync(dir, {recursive: true})
  writeFileSync(path.join(dir, `${packed.sha256}.tar.gz`), readFileSync(file))
  const record = {
    artifact: {
      files: packed.files,
      key: `pupistry/production/artifacts/${packed.sha256}.tar.gz`,
      sha256: packed.sha256,
      size: packed.size,
      unpacked_size: packed.unpackedSize,
    },
    build: {assembler: 'bench', commit: null, host: 'bench', modules: {}, tools: {}, user: 'bench'},
    built: new Date().toISOString(),
    environment: 'production',
    format: 1,
    version: packed.sha256,
  }
  writeFileSync(path.join(dir, 'build.json'), JSON.stringify(record, null, 2))
  writeFileSync(path.join(appCache, 'build', 'index.json'), JSON.stringify({environments: ['production']}))
  pupistry('push', '-e', 'production', '--no-validate')
  return packed.sha256
}

/** One apply, killed at a step or after a delay; resolves with whether it was killed and how it ended otherwise. */
function killedApply(args, kill) {
  return new Promise((resolve, reject) => {
    const env = {...process.env, NO_COLOR: '1', ...(kill.at ? {PUPISTRY_TEST_PAUSE_AT: kill.at} : {})}
    const child = spawn(process.execPath, [bin, 'apply', ...args, '--config', settingsFile], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    children.add(child)
    let stderr = ''
    let killed = false
    const killNow = () => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true
        child.kill('SIGKILL')
      }
    }

    // A run that neither reaches its step nor ends within a minute is killed anyway and reported as stuck.
    const stuck = setTimeout(() => {
      kill.stuck = true
      killNow()
    }, 60_000)
    const timer = kill.afterMs === undefined ? undefined : setTimeout(killNow, kill.afterMs)
    child.stderr.on('data', (chunk) => {
      stderr += chunk.toString('utf8')
      if (kill.at && stderr.includes(`test pause at ${kill.at} `)) killNow()
    })
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      clearTimeout(stuck)
      children.delete(child)
      resolve({code, killed, stderr, stuck: Boolean(kill.stuck)})
    })
  })
}

/** Problems with the node's releases: the active one and every kept one must be complete published versions. */
function releaseProblems() {
  const problems = []
  let active
  try {
    active = path.basename(readlinkSync(path.join(puppetcode, 'production')))
  } catch (error) {
    return [`no active release link (${error.code})`]
  }

  for (const dir of readdirSync(releasesRoot).filter((name) => !name.startsWith('.'))) {
    const want = expected.get(dir.split('.')[0])
    if (!want) {
      problems.push(`release ${dir} is not a published version`)
      continue
    }

    const have = listing(path.join(releasesRoot, dir))
    const differ = [...new Set([...want.keys(), ...have.keys()])].filter((key) => want.get(key) !== have.get(key))
    if (differ.length > 0)
      problems.push(
        `release ${dir} differs from its artifact in ${differ.length} entries (${differ.slice(0, 3).join(', ')})`,
      )
  }

  if (!readdirSync(releasesRoot).includes(active))
    problems.push(`the active link names ${active}, which is not a kept release`)
  return problems
}

const started = Date.now()
const minutes = () => (Date.now() - started) / 60_000
let newest = push(0)
let pushes = 1
const first = await killedApply(['--minimal'], {})
if (first.code !== 0) {
  console.error(`crash-soak: the first apply failed (exit ${first.code}):\n${first.stderr}`)
  process.exit(1)
}

const hits = new Map()
const bad = []
let stuck = 0
let checks = 0
let done = 0
console.log(
  `crash-soak: ${runs} killed runs (a push every ${pushEvery}, an uninterrupted run every ${checkEvery}), work directory ${tmp}`,
)
for (let round = 0; round < runs && minutes() < maxMinutes; round++) {
  if (round > 0 && round % pushEvery === 0) {
    newest = push(pushes % VERSIONS)
    pushes++
  }

  // The run after a push installs it as usual; the others reinstall with --force, so they pass every step too.
  const args = round % pushEvery === 0 ? ['--minimal'] : ['--minimal', '--force']
  const step = STEPS[round % (STEPS.length * 2)]
  const kill = step ? {at: step} : {afterMs: Math.floor(Math.random() * 2500)}
  const label = step ?? 'random'
  const outcome = await killedApply(args, kill)
  done++
  if (outcome.stuck) stuck++
  if (!outcome.killed && outcome.code !== 0)
    bad.push(`run ${round} (${label}): exit ${outcome.code}: ${outcome.stderr.trim().split('\n').at(-1)}`)
  const key = `${label}${outcome.killed ? '' : ' (ended first)'}`
  hits.set(key, (hits.get(key) ?? 0) + 1)
  for (const problem of releaseProblems()) bad.push(`after run ${round} (killed at ${label}): ${problem}`)

  if ((round + 1) % checkEvery === 0) {
    checks++
    const whole = await killedApply(['--minimal'], {})
    const active = path.basename(readlinkSync(path.join(puppetcode, 'production'))).split('.')[0]
    if (whole.code !== 0)
      bad.push(`uninterrupted run after run ${round}: exit ${whole.code}: ${whole.stderr.trim().split('\n').at(-1)}`)
    else if (active !== newest)
      bad.push(
        `uninterrupted run after run ${round} left ${active.slice(0, 12)} active, not the newest ${newest.slice(0, 12)}`,
      )
  }

  if ((round + 1) % 100 === 0)
    console.log(`crash-soak: ${round + 1} runs, ${bad.length} problems, ${minutes().toFixed(1)} min`)
}

const seconds = Math.round((Date.now() - started) / 1000)
console.log(
  `crash-soak: ${done} killed runs and ${checks} uninterrupted runs against ${pushes} pushes in ` +
    `${seconds} s (${((seconds * 1000) / Math.max(done, 1)).toFixed(0)} ms a run)`,
)
console.log(
  `crash-soak: killed at ${[...hits]
    .sort()
    .map(([where, count]) => `${where} ×${count}`)
    .join(', ')}`,
)
if (stuck > 0) console.log(`crash-soak: ${stuck} runs neither reached their step nor ended within 60 s`)
if (done < runs)
  console.log(`crash-soak: stopped after ${maxMinutes} min (SOAK_MAX_MINUTES), ${runs - done} runs short`)
console.log(`crash-soak: runs that left an incomplete or wrong release, or failed: ${bad.length} (goal 0)`)
for (const problem of bad.slice(0, 20)) console.log(`  ${problem}`)
process.exitCode = bad.length > 0 ? 1 : 0
