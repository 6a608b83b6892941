// The assembler benchmark (run by bench/assemblers.sh, with tsx for the
// test suite's Forge server): r10k, g10k and the native assembler on the same
// generated control repos in the same run, cold (empty caches) and warm (a
// second run with nothing changed), with wall time and peak RSS.
import {spawn, spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {ForgeServer} from '../../plugins/native/test/forge-server.ts'

const here = path.dirname(fileURLToPath(import.meta.url))
const tmp = process.argv[2]
const sizes = (process.env.BENCH_ASSEMBLER_SIZES ?? '10 50 200').split(/\s+/).filter(Boolean).map(Number)
const forgeCount = Number(process.env.BENCH_FORGE_MODULES ?? 20)
const runs = Number(process.env.BENCH_RUNS ?? 1)
const TOOLS = ['r10k', 'g10k', 'native']

/**
 * Runs a command under GNU time: wall seconds (own clock), CPU seconds (user
 * and system, the command and every process it waited for) and peak RSS of
 * the largest process in MB. Asynchronous, so the Forge server in this
 * process keeps answering.
 */
function timed(command, args) {
  const report = path.join(tmp, 'time.txt')
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', report, command, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output = (output + chunk).slice(-4000)))
    child.stderr.on('data', (chunk) => (output = (output + chunk).slice(-4000)))
    child.on('error', reject)
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${output}`))
      const [rssKb, user, system] = readFileSync(report, 'utf8').trim().split('\n').pop().split(' ').map(Number)
      resolve({cpu: user + system, rssMb: rssKb / 1024, seconds})
    })
  })
}

/** The command that deploys `control` with one tool, its caches below `dir`. */
function commandFor(tool, dir, control, forgeUrl) {
  const basedir = path.join(dir, 'environments')
  const cachedir = path.join(dir, 'cache')
  if (tool === 'native') {
    return {
      args: [path.join(here, 'native-assemble.mjs'), control, cachedir, forgeUrl ?? ''],
      command: process.execPath,
      environments: basedir.replace(/environments$/, 'cache/environments'),
    }
  }

  const config = path.join(dir, `${tool}.yaml`)
  const forge = forgeUrl ? {forge: {baseurl: forgeUrl}} : {}
  if (tool === 'r10k') {
    writeFileSync(config, JSON.stringify({cachedir, sources: {main: {basedir, remote: control}}, ...forge}))
    return {args: ['deploy', 'environment', '--modules', '--config', config], command: 'r10k', environments: basedir}
  }

  // g10k reads its own YAML dialect (`:cachedir:`), not JSON.
  const forgeYaml = forgeUrl ? `forge:\n  baseurl: '${forgeUrl}'\nforge_base_url: '${forgeUrl}'\n` : ''
  writeFileSync(
    config,
    `:cachedir: '${cachedir}'\nsources:\n  main:\n    remote: '${control}'\n    basedir: '${basedir}/'\n${forgeYaml}`,
  )
  return {args: ['-config', config, '-quiet'], command: 'g10k', environments: basedir}
}

function moduleCount(environments) {
  try {
    return readdirSync(path.join(environments, 'production', 'modules')).filter((name) => !name.startsWith('.')).length
  } catch {
    return 0
  }
}

/** The median of each measure over the rounds (the lower middle one for an even count), and the fewest modules deployed. */
function medianOf(samples) {
  const middle = (values) => values.sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]
  const phase = (name) => ({
    cpu: middle(samples.map((sample) => sample[name].cpu)),
    rssMb: Math.max(...samples.map((sample) => sample[name].rssMb)),
    seconds: middle(samples.map((sample) => sample[name].seconds)),
  })
  return {cold: phase('cold'), deployed: Math.min(...samples.map((sample) => sample.deployed)), warm: phase('warm')}
}

const forge = new ForgeServer()
await forge.start()
const slugs = []
for (let i = 0; i < forgeCount; i++) {
  const slug = `bench-f${String(i).padStart(2, '0')}`
  await forge.publish(slug, '1.0.0')
  slugs.push(`${slug}@1.0.0`)
}

const repos = [
  ...sizes.map((size) => ({forge: false, label: `${size} git`, modules: size})),
  ...(forgeCount > 0 ? [{forge: true, label: `${forgeCount} Forge`, modules: forgeCount}] : []),
]
const rows = []
try {
  for (const repo of repos) {
    const dir = path.join(tmp, repo.label.replace(' ', '-'))
    const makeArgs = repo.forge ? [dir, '0', forge.url, ...slugs] : [dir, String(repo.modules)]
    const made = spawnSync(process.execPath, [path.join(here, 'make-assembler-repos.mjs'), ...makeArgs], {
      encoding: 'utf8',
    })
    const control = `file://${made.stdout.trim()}`
    // Rounds of all three tools, back to back, so a change in the machine's load hits each of them alike.
    const samples = Object.fromEntries(TOOLS.map((tool) => [tool, []]))
    for (let round = 0; round < runs; round++) {
      for (const tool of TOOLS) {
        const work = path.join(dir, `run-${tool}`)
        rmSync(work, {force: true, recursive: true})
        mkdirSync(work, {recursive: true})
        const {args, command, environments} = commandFor(tool, work, control, repo.forge ? forge.url : undefined)
        process.stderr.write(`${repo.label}: ${tool}${runs > 1 ? ` (round ${round + 1}/${runs})` : ''} cold...`)
        const cold = await timed(command, args)
        process.stderr.write(` warm...`)
        const warm = await timed(command, args)
        process.stderr.write(` done\n`)
        samples[tool].push({cold, deployed: moduleCount(environments), warm})
      }
    }

    for (const tool of TOOLS) rows.push({...medianOf(samples[tool]), repo: repo.label, tool, wanted: repo.modules})
  }
} finally {
  await forge.stop()
}

const pad = (text, width) => String(text).padEnd(width)
const lpad = (text, width) => String(text).padStart(width)
if (runs > 1) console.log(`median of ${runs} rounds (peak RSS: the largest of them)`)
console.log(
  `${pad('repo', 10)}${pad('tool', 8)}${lpad('cold s', 8)}${lpad('warm s', 8)}${lpad('cold CPU s', 12)}` +
    `${lpad('peak RSS MB', 13)}${lpad('modules', 9)}${lpad('g10k/native cold', 18)}${lpad('warm', 7)}` +
    `${lpad('cold CPU', 10)}${lpad('r10k/native cold', 18)}${lpad('warm', 7)}`,
)
for (const row of rows) {
  const native = rows.find((other) => other.repo === row.repo && other.tool === 'native')
  const g10k = rows.find((other) => other.repo === row.repo && other.tool === 'g10k')
  const r10k = rows.find((other) => other.repo === row.repo && other.tool === 'r10k')
  const ratios =
    row.tool === 'native'
      ? `${lpad((g10k.cold.seconds / native.cold.seconds).toFixed(2), 18)}` +
        `${lpad((g10k.warm.seconds / native.warm.seconds).toFixed(2), 7)}` +
        `${lpad((g10k.cold.cpu / native.cold.cpu).toFixed(2), 10)}` +
        `${lpad((r10k.cold.seconds / native.cold.seconds).toFixed(2), 18)}` +
        `${lpad((r10k.warm.seconds / native.warm.seconds).toFixed(2), 7)}`
      : ''
  const rss = Math.max(row.cold.rssMb, row.warm.rssMb).toFixed(0)
  console.log(
    `${pad(row.repo, 10)}${pad(row.tool, 8)}${lpad(row.cold.seconds.toFixed(2), 8)}${lpad(row.warm.seconds.toFixed(2), 8)}` +
      `${lpad(row.cold.cpu.toFixed(2), 12)}${lpad(rss, 13)}${lpad(`${row.deployed}/${row.wanted}`, 9)}${ratios}`,
  )
}

console.log('\nTargets (ratios above 1 mean native is faster):')
for (const repo of repos.filter((entry) => !entry.forge && entry.modules >= 50)) {
  const native = rows.find((row) => row.repo === repo.label && row.tool === 'native')
  const g10k = rows.find((row) => row.repo === repo.label && row.tool === 'g10k')
  for (const phase of ['cold', 'warm']) {
    const ratio = g10k[phase].seconds / native[phase].seconds
    console.log(
      `  ${repo.label}, ${phase}: native ${ratio.toFixed(2)}x g10k's speed (target >= 1.2): ${ratio >= 1.2 ? 'met' : 'NOT met'}`,
    )
  }
}

const biggest = rows
  .filter((row) => row.tool === 'native' && !row.repo.includes('Forge'))
  .sort((a, b) => b.wanted - a.wanted)[0]
if (biggest)
  console.log(
    `  ${biggest.repo}, warm no-change rebuild: ${biggest.warm.seconds.toFixed(2)} s (target < 1 s): ` +
      `${biggest.warm.seconds < 1 ? 'met' : 'NOT met'}`,
  )
const peak = Math.max(...rows.filter((row) => row.tool === 'native').flatMap((row) => [row.cold.rssMb, row.warm.rssMb]))
console.log(`  native peak RSS: ${peak.toFixed(0)} MB (target < 150 MB): ${peak < 150 ? 'met' : 'NOT met'}`)
const short = rows.filter((row) => row.deployed !== row.wanted)
if (short.length > 0)
  console.log(
    `\nIncomplete deploys (modules found/wanted): ` +
      `${short.map((row) => `${row.tool} on ${row.repo}: ${row.deployed}/${row.wanted}`).join('; ')}`,
  )
