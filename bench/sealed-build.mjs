#!/usr/bin/env node
// The cost of sealed hiera (build.hieracrypt) for a fleet: 1,000 registered nodes in 50 roles, a tenth of them
// with a data file of their own. Builds and pushes the same control repo with and without sealing, and prints
// build time, push time and store size side by side, and a rebuild with the MAC key (which must publish nothing).
// Never fails on slowness, only when a command fails.
//
//   node bench/sealed-build.mjs
//
// Environment: BENCH_NODES (default 1000), BENCH_GROUPS (default 50), TMPDIR.
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(repo, 'bin', 'run.js')
const nodes = Number(process.env.BENCH_NODES ?? 1000)
const groups = Number(process.env.BENCH_GROUPS ?? 50)
if (!Number.isInteger(nodes) || nodes < 1 || !Number.isInteger(groups) || groups < 1 || groups > nodes) {
  console.error('sealed-build: BENCH_NODES and BENCH_GROUPS must be whole numbers, 1 <= groups <= nodes')
  process.exit(1)
}

const openpgp = await import(path.join(repo, 'node_modules', 'openpgp', 'dist', 'node', 'openpgp.mjs'))
const tmp = mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), 'pupistry-bench-sealed-'))
process.on('exit', () => rmSync(tmp, {force: true, recursive: true}))
process.on('SIGINT', () => process.exit(130))

const git = (cwd, ...args) =>
  execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', ...args], {
    cwd,
    stdio: 'pipe',
  })
execFileSync('bash', [path.join(repo, 'test/fixtures/make-control-repo.sh'), path.join(tmp, 'repos')], {stdio: 'pipe'})
const work = path.join(tmp, 'work')
git(tmp, 'clone', '-q', '--branch', 'production', path.join(tmp, 'repos', 'control.git'), work)

console.log(`generating ${nodes} node keys in ${groups} roles ...`)
writeFileSync(
  path.join(work, 'hiera.yaml'),
  '---\nversion: 5\ndefaults: {datadir: data, data_hash: yaml_data}\nhierarchy:\n' +
    '  - {name: per node, path: "nodes/%{trusted.certname}.yaml"}\n' +
    '  - {name: role, path: "role/%{facts.role}.yaml"}\n' +
    '  - {name: common, path: common.yaml}\n',
)
for (const dir of ['data/nodes', 'data/role', 'hieracrypt/nodes']) mkdirSync(path.join(work, dir), {recursive: true})
const secret = (label) => `${label}: ${'s'.repeat(40)}\n`
for (let group = 0; group < groups; group++)
  writeFileSync(path.join(work, 'data/role', `role${group}.yaml`), secret(`role${group}::password`).repeat(20))
for (let index = 0; index < nodes; index++) {
  const name = `node${index}.example`
  const {publicKey} = await openpgp.generateKey({format: 'armored', type: 'ecc', userIDs: [{name}]})
  const key = publicKey.trim().split('\n').join('\n  ')
  writeFileSync(
    path.join(work, 'hieracrypt/nodes', `${name}.yaml`),
    `key: |\n  ${key}\nfacts:\n  role: role${index % groups}\n`,
  )
  if (index % 10 === 0) writeFileSync(path.join(work, 'data/nodes', `${name}.yaml`), secret('node::token').repeat(5))
}

git(work, 'add', '-A')
git(work, 'commit', '-qm', 'fleet')
git(work, 'push', '-q', 'origin', 'production')

function side(name, build) {
  const dir = path.join(tmp, name)
  mkdirSync(path.join(dir, 'store'), {recursive: true})
  const settings = path.join(dir, 'settings.yaml')
  writeFileSync(
    settings,
    [
      'general:',
      `  app_cache: ${dir}/cache`,
      `  storage: file://${dir}/store`,
      `  signing_key_file: ${dir}/keys/pupistry-signing.secret.asc`,
      'build:',
      `  puppetcode: file://${tmp}/repos/control.git`,
      ...build.map((line) => `  ${line}`),
      '',
    ].join('\n'),
  )
  const run = (...args) => {
    const started = performance.now()
    execFileSync(process.execPath, [bin, ...args, '--config', settings], {stdio: ['ignore', 'pipe', 'pipe']})
    return (performance.now() - started) / 1000
  }
  run('keys', 'generate', '--dir', path.join(dir, 'keys'))
  return {dir, run}
}

const plain = side('plain', [])
const sealed = side('sealed', ['hieracrypt: true', `hieracrypt_mac_key_file: ${tmp}/sealed/keys/hieracrypt-mac.key`])
sealed.run('keys', 'generate', '--mac-key', '--dir', path.join(tmp, 'sealed', 'keys'))

const du = (dir) => {
  let total = 0
  let count = 0
  const walk = (current) => {
    for (const entry of readdirSync(current)) {
      const full = path.join(current, entry)
      const info = statSync(full)
      if (info.isDirectory()) walk(full)
      else {
        total += info.size
        count++
      }
    }
  }
  walk(dir)
  return {count, total}
}

const rows = []
for (const [label, world] of [
  ['without sealing', plain],
  ['sealed', sealed],
]) {
  const build = world.run('build', '-e', 'production')
  const push = world.run('push')
  const store = du(path.join(world.dir, 'store'))
  rows.push({build, label, objects: store.count, push, store: store.total})
}

const rebuild = sealed.run('build', '-e', 'production')
const before = du(path.join(sealed.dir, 'store'))
const repush = sealed.run('push')
const after = du(path.join(sealed.dir, 'store'))

console.log(`\n${nodes} nodes, ${groups} roles, ${Math.ceil(nodes / 10)} node files; ${os.cpus().length} CPUs`)
console.log('                      build s   push s   store objects   store bytes')
for (const row of rows)
  console.log(
    `${row.label.padEnd(20)} ${row.build.toFixed(1).padStart(8)} ${row.push.toFixed(1).padStart(8)} ` +
      `${String(row.objects).padStart(15)} ${String(row.store).padStart(13)}`,
  )
console.log(
  `sealed rebuild with the MAC key: build ${rebuild.toFixed(1)} s, push ${repush.toFixed(1)} s, ` +
    `${after.count - before.count} new objects (target 0: ${after.count === before.count ? 'met' : 'NOT met'})`,
)
console.log(`build time ratio sealed/plain: ${(rows[1].build / rows[0].build).toFixed(2)}`)
