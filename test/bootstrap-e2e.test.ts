import assert from 'node:assert/strict'
import {existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {dump} from 'js-yaml'

import {parseSettings} from '../src/config/settings.js'
import {BIN, run, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

/**
 * The rendered debian-12 script, run for real on this Debian machine as root,
 * in a mount namespace where /etc and /usr/local are overlays whose changes
 * land in a scratch directory: the machine itself is not touched. The package
 * steps are skipped with the variable the script documents
 * (PUPISTRY_BOOTSTRAP_SKIP_PACKAGES=1): they need the Debian mirrors, a Node.js
 * download and the published pupistry, none of which a test can reach; Puppet,
 * Node.js and this pupistry are already installed here, the last one behind
 * the path the script uses, /usr/local/bin/pupistry. Everything else is real:
 * the settings file, the trusted keys, the systemd unit enabled by systemctl,
 * and the first `pupistry apply` with real Puppet against a file store.
 */
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0
const skip = !asRoot && !process.env.CI ? 'needs root (mount namespaces and overlays)' : false

describe('the debian-12 bootstrap, run in a throwaway root', {skip}, () => {
  let world: World
  let script: string
  let timerScript: string
  let changes: string
  const run1: {out?: string} = {}

  before(async () => {
    world = await World.create()
    for (const step of [['build', '-e', 'production'], ['push', '-e', 'production']]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    const settings = {
      ...world.settings,
      bootstrap: {
        app_cache: path.join(world.dir, 'node-cache'),
        node_tarballs: {x86_64: {sha256: '0'.repeat(64), url: 'https://127.0.0.1:9/node-linux-x64.tar.xz'}},
      },
    }
    const file = path.join(world.dir, 'bootstrap-settings.yaml')
    writeFileSync(file, dump(settings))
    const rendered = await world.cliWith(file, 'bootstrap', '--template', 'debian-12', '--output', path.join(world.dir, 'bootstrap.sh'))
    assert.equal(rendered.code, 0, show(rendered))
    script = path.join(world.dir, 'bootstrap.sh')
    timerScript = path.join(world.dir, 'bootstrap-timer.sh')
    const timer = await world.cliWith(file, 'bootstrap', '--template', 'debian-12', '--schedule', 'timer', '--output', timerScript)
    assert.equal(timer.code, 0, show(timer))
    changes = path.join(world.dir, 'root')
    for (const dir of ['etc', 'usr-local', 'work-etc', 'work-usr-local']) mkdirSync(path.join(changes, dir), {recursive: true})
  })
  after(() => world?.cleanup())

  /** Runs the script in a new mount namespace; what it writes to /etc and /usr/local lands under `changes`. */
  function bootstrap(which = script): Promise<string> {
    const inside = `set -euo pipefail
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$CHANGES/etc,workdir=$CHANGES/work-etc" /etc
mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$CHANGES/usr-local,workdir=$CHANGES/work-usr-local" /usr/local
mkdir -p /usr/local/bin
printf '#!/bin/sh\\nexec %s %s "$@"\\n' "$NODE" "$PUPISTRY" >/usr/local/bin/pupistry
chmod 0755 /usr/local/bin/pupistry
PUPISTRY_BOOTSTRAP_SKIP_PACKAGES=1 bash "$SCRIPT" 2>&1
`
    return run('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', inside], {
      env: {CHANGES: changes, NODE: process.execPath, PUPISTRY: BIN, SCRIPT: which},
    })
  }

  it('runs to the end: settings, keys, service unit, and the first apply', async () => {
    run1.out = await bootstrap()
    assert.match(run1.out, /pupistry-bootstrap: PUPISTRY_BOOTSTRAP_SKIP_PACKAGES=1: not installing Puppet, Node\.js or pupistry/)
    assert.match(run1.out, /pupistry-bootstrap: wrote \/etc\/pupistry\/settings\.yaml/)
    assert.match(run1.out, /production: installed serial 1 \([0-9a-f]{12}\); puppet applied changes \(exit 2\)/)
    assert.match(run1.out, /pupistry-bootstrap: done: pupistry 3\.0\.0-alpha\.1 applies environment production/)
  })

  it('wrote the settings file 0600 with the store, the environment and the inlined trusted key', () => {
    const file = path.join(changes, 'etc', 'pupistry', 'settings.yaml')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const settings = parseSettings(readFileSync(file, 'utf8'), file)
    assert.deepEqual(settings.warnings, [])
    assert.equal(settings.general.storage, world.settings.general.storage)
    assert.deepEqual(settings.general.trusted_keys, ['/etc/pupistry/trusted-keys'])
    assert.equal(settings.agent.environment, 'production')
    assert.equal(settings.agent.access_key_id, undefined)
    const key = path.join(changes, 'etc', 'pupistry', 'trusted-keys', 'pupistry-signing.public.asc')
    assert.equal(readFileSync(key, 'utf8'), readFileSync(path.join(world.keys, 'pupistry-signing.public.asc'), 'utf8'))
    assert.equal(statSync(key).mode & 0o777, 0o644)
  })

  it('installed and enabled the systemd unit running apply --daemon', () => {
    const unit = readFileSync(path.join(changes, 'etc', 'systemd', 'system', 'pupistry.service'), 'utf8')
    assert.match(unit, /^ExecStart=\/usr\/local\/bin\/pupistry apply --daemon --config \/etc\/pupistry\/settings\.yaml$/m)
    const wants = path.join(changes, 'etc', 'systemd', 'system', 'multi-user.target.wants', 'pupistry.service')
    assert.ok(lstatSync(wants).isSymbolicLink())
    assert.equal(readlinkSync(wants), '/etc/systemd/system/pupistry.service')
  })

  it('the first apply activated the release and Puppet applied it', () => {
    assert.ok(existsSync(path.join(world.puppetcode, 'production')))
    assert.match(world.targetFile('greeting.txt'), /production says hi/)
  })

  it('is safe to run again: nothing changes, apply finds the release current', async () => {
    const again = await bootstrap()
    assert.match(again, /pupistry-bootstrap: unchanged: \/etc\/pupistry\/settings\.yaml/)
    assert.match(again, /pupistry-bootstrap: unchanged: \/etc\/systemd\/system\/pupistry\.service/)
    assert.match(again, /production: current serial 1 /)
    assert.match(again, /pupistry-bootstrap: done/)
  })

  it('switches to --schedule timer when run again with that script: the daemon unit is no longer enabled', async () => {
    const out = await bootstrap(timerScript)
    assert.match(out, /pupistry-bootstrap: done/)
    const units = path.join(changes, 'etc', 'systemd', 'system')
    assert.match(readFileSync(path.join(units, 'pupistry.service'), 'utf8'), /^Type=oneshot$/m)
    assert.match(readFileSync(path.join(units, 'pupistry.timer'), 'utf8'), /^OnUnitActiveSec=300$/m)
    assert.equal(readlinkSync(path.join(units, 'timers.target.wants', 'pupistry.timer')), '/etc/systemd/system/pupistry.timer')
    assert.equal(existsSync(path.join(units, 'multi-user.target.wants', 'pupistry.service')), false)
  })
})
