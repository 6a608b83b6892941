import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import * as tar from 'tar'

import {execute, ROOT, run, show} from './helpers/cli.js'
import {NpmRegistry} from './helpers/npm-registry.js'
import {pluginHome} from './helpers/plugin-home.js'

interface LockEntry {
  version?: string
  dev?: boolean
  link?: boolean
  inBundle?: boolean
}

/**
 * pupistry's runtime dependencies that do not travel inside its tarball, as
 * installed here: what a registry must offer for `npm i -g pupistry.tgz`.
 */
function registryDependencies(): Array<{name: string; version: string; dir: string}> {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>
  }
  return Object.entries(lock.packages)
    .filter(([where, entry]) => where.includes('node_modules/') && !entry.dev && !entry.link && !entry.inBundle)
    .map(([where, entry]) => ({
      dir: path.join(ROOT, where),
      name: where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length),
      version: entry.version ?? '',
    }))
}

/** Publishes an installed package's files (and what it bundles) as that version, the way `npm publish` sends it. */
async function publishInstalled(registry: NpmRegistry, pkg: {name: string; version: string; dir: string}) {
  const manifest = JSON.parse(readFileSync(path.join(pkg.dir, 'package.json'), 'utf8')) as Record<string, unknown>
  // Its own dependencies are separate packages, except those it bundles (npm bundles all of its own).
  const bundled = (manifest.bundleDependencies ?? manifest.bundledDependencies ?? []) as string[]
  const files = [
    ...readdirSync(pkg.dir).filter((name) => name !== 'node_modules'),
    ...bundled.map((name) => `node_modules/${name}`),
  ]
  const data = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    tar
      .c({cwd: pkg.dir, gzip: true, portable: true, prefix: 'package'}, files)
      .on('data', (chunk: Buffer) => chunks.push(chunk))
      .on('end', () => resolve(Buffer.concat(chunks)))
      .on('error', reject)
  })
  const file = `${pkg.name.split('/').pop()}-${pkg.version}.tgz`
  const body = {
    _attachments: {
      [file]: {content_type: 'application/octet-stream', data: data.toString('base64'), length: data.length},
    },
    _id: pkg.name,
    'dist-tags': {latest: pkg.version},
    name: pkg.name,
    versions: {
      [pkg.version]: {
        ...manifest,
        _id: `${pkg.name}@${pkg.version}`,
        dist: {tarball: `${registry.url}${pkg.name}/-/${file}`},
      },
    },
  }
  const response = await fetch(`${registry.url}${pkg.name.replace('/', '%2f')}`, {
    body: JSON.stringify(body),
    headers: {authorization: 'Bearer test', 'content-type': 'application/json'},
    method: 'PUT',
  })
  assert.ok(response.ok, `publishing ${pkg.name}@${pkg.version}: ${response.status} ${await response.text()}`)
}

describe('one tarball: npm pack, then npm i -g from it with a private registry for the rest', () => {
  let registry: NpmRegistry
  let dir: string
  let prefix: string
  let installed: {code: number; stdout: string; stderr: string}
  // A home of its own: nothing of the machine's npm settings, cache or plugins is used.
  const env = (where: string): NodeJS.ProcessEnv => ({...pluginHome(where), NO_COLOR: '1'})

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-pack-'))
    prefix = path.join(dir, 'prefix')
    registry = await NpmRegistry.start()
    // Versions of one name go one after another: the registry merges each into the package's metadata.
    const byName = new Map<string, ReturnType<typeof registryDependencies>>()
    for (const pkg of registryDependencies()) byName.set(pkg.name, [...(byName.get(pkg.name) ?? []), pkg])
    await Promise.all(
      [...byName.values()].map(async (versions) => {
        for (const pkg of versions) await publishInstalled(registry, pkg)
      }),
    )
    await run('npm', ['pack', '--pack-destination', dir], {cwd: ROOT})
    const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string
    installed = await execute(
      'npm',
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--registry',
        registry.url,
        '--no-audit',
        '--no-fund',
        path.join(dir, `pupistry-${version}.tgz`),
      ],
      {cwd: dir, env: env(dir)},
    )
  })
  after(() => {
    registry?.stop()
    if (dir) rmSync(dir, {force: true, recursive: true})
  })

  it('installs into a fresh prefix with its bundled plugins, from the tarball and that registry only', async () => {
    assert.equal(installed.code, 0, show(installed))
    const bundled = readdirSync(path.join(prefix, 'lib', 'node_modules', 'pupistry', 'node_modules', '@pupistry'))
    for (const plugin of ['gpg', 'native', 'openpgp', 'r10k', 's3']) assert.ok(bundled.includes(plugin), bundled.join())
  })

  it('runs, and its bundled plugins provide what they should', async () => {
    const bin = path.join(prefix, 'bin', 'pupistry')
    const result = await execute(bin, ['providers', '--json'], {cwd: dir, env: env(dir)})
    assert.equal(result.code, 0, show(result))
    const providers = JSON.parse(result.stdout) as Array<{kind: string; name: string; plugin: string}>
    const names = providers.map(({kind, name}) => `${kind}:${name}`)
    for (const expected of ['assemblers:r10k', 'storage:s3', 'storage:file', 'signers:openpgp', 'signers:gpg']) {
      assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`)
    }
  })

  it('help shows defaults as ~ paths, not the home directory of the machine that built or installed it', async () => {
    const other = path.join(dir, 'another-user')
    const result = await execute(path.join(prefix, 'bin', 'pupistry'), ['setup', '--help'], {cwd: dir, env: env(other)})
    const home = path.join(other, 'home')
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /~\/\.pupistry\/settings\.yaml/)
    for (const baked of [os.homedir(), home]) assert.ok(!result.stdout.includes(baked), `${baked} in\n${result.stdout}`)
  })
})
