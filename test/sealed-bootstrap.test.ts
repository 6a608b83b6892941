import assert from 'node:assert/strict'
import {chmodSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {parse} from 'yaml'
import {stringify} from 'yaml'

import {BIN, execute, show} from './helpers/cli.js'
import {SealedWorld} from './helpers/sealed-world.js'

describe('bootstrap with sealed hiera: a fresh node registers the facts its hierarchy needs', () => {
  let sealed: SealedWorld
  let script: string

  before(async () => {
    sealed = await SealedWorld.create({macKey: false})
    const {world} = sealed
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    // Node.js from a fixed tarball, so that rendering asks no registry.
    const tarballs = {x86_64: {sha256: 'a'.repeat(64), url: 'https://127.0.0.1:9/node-v24-linux-x64.tar.gz'}}
    const settings = path.join(world.dir, 'bootstrap-settings.yaml')
    writeFileSync(settings, stringify({...world.settings, bootstrap: {node_tarballs: tarballs}}))
    const output = path.join(world.dir, 'debian-12.sh')
    const rendered = await world.cliWith(settings, 'bootstrap', '--template', 'debian-12', '--output', output)
    assert.equal(rendered.code, 0, show(rendered))
    script = readFileSync(output, 'utf8')
  })
  after(() => sealed?.cleanup())

  it("the rendered script passes the facts of the newest build's hiera.yaml to node init", async () => {
    assert.match(script, /"\$pupistry_bin" node init --config "\$settings_file" --fact role >&2/)
    const checked = await execute('/usr/bin/shellcheck', [
      '--severity=style',
      path.join(sealed.world.dir, 'debian-12.sh'),
    ])
    assert.equal(checked.code, 0, show(checked))
  })

  it("the script's node_init prints a registry file that carries the node's live facts", async () => {
    const node = sealed.addNode('fresh.example', {role: 'web'})
    const bin = path.join(node.dir, 'pupistry')
    writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`)
    chmodSync(bin, 0o755)
    const start = script.indexOf('log() {')
    const end = script.indexOf('if [ "${PUPISTRY_BOOTSTRAP_SKIP_PACKAGES:-}" = 1 ]')
    assert.ok(start > 0 && end > start, 'the script has its helper functions and main part')
    const part =
      `set -euo pipefail\n${script.slice(start, end)}\n` +
      `pupistry_bin=${bin}\nsettings_file=${node.settingsFile}\nnode_init\n`
    const result = await execute('bash', ['-c', part], {cwd: node.dir, env: node.env})
    assert.equal(result.code, 0, show(result))
    const registry = /----- BEGIN PUPISTRY REGISTRY FILE -----\n([\s\S]*)----- END PUPISTRY REGISTRY FILE -----/.exec(
      result.stderr,
    )?.[1]
    assert.ok(registry, show(result))
    const entry = parse(registry) as {certname: string; facts: Record<string, unknown>; key: string}
    // The certname Puppet uses on the node (its wrapper sets one), which the agent's drift check compares.
    assert.equal(entry.certname, 'fresh.example')
    assert.deepEqual(entry.facts, {role: 'web'})
    assert.match(entry.key, /BEGIN PGP PUBLIC KEY BLOCK/)
  })
})
