import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {parseSettings} from '../src/config/settings.js'
import {BIN, run, show} from './helpers/cli.js'
import {type Nginx, startNginx} from './helpers/nginx.js'
import {World} from './helpers/world.js'

/**
 * The rendered debian-12 script, run for real on this Debian machine as root,
 * in a mount namespace where /etc, /usr/local, /opt and /var/cache are
 * overlays whose changes land in a scratch directory: the machine itself is
 * not touched. Only the two package managers are stand-ins, placed in the
 * throwaway /usr/local/sbin (first on the script's PATH): `apt-get` records
 * its arguments (Puppet is installed here already, and the Debian mirrors are
 * not a test's to depend on), and `npm` records its arguments and lays out
 * what `npm install --global --prefix` would, a `pupistry` that runs this
 * build (it is not published, and its dependencies are not on a registry on
 * 127.0.0.1). Everything else is the script's own doing: Node.js downloaded
 * over HTTPS from nginx on 127.0.0.1 and checked with sha256sum, the settings
 * file, the trusted keys, the systemd unit enabled by systemctl, and the first
 * `pupistry apply` with real Puppet against a file store.
 */
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0
const skip = !asRoot && !process.env.CI ? 'needs root (mount namespaces and overlays)' : false

const STUBS = {
  'apt-get': `#!/bin/sh
echo "apt-get $*" >>"$STUB_LOG"
`,
  npm: `#!/bin/sh
echo "npm $* (registry \${npm_config_registry:-unset})" >>"$STUB_LOG"
prefix=
while [ $# -gt 0 ]; do
  if [ "$1" = --prefix ]; then prefix=$2; fi
  shift
done
mkdir -p "$prefix/bin" "$prefix/lib/node_modules/pupistry"
printf '{"name":"pupistry","version":"%s"}\\n' "$PUPISTRY_VERSION" >"$prefix/lib/node_modules/pupistry/package.json"
printf '#!/bin/sh\\nexec %s %s "$@"\\n' "$NODE" "$PUPISTRY" >"$prefix/bin/pupistry"
chmod 0755 "$prefix/bin/pupistry"
`,
}

describe('the debian-12 bootstrap, run in a throwaway root', {skip}, () => {
  let world: World
  let nginx: Nginx
  let tarballSha: string
  const scripts: Record<'daemon' | 'timer' | 'tampered', string> = {daemon: '', tampered: '', timer: ''}
  let version: string

  before(async () => {
    world = await World.create()
    for (const step of [
      ['build', '-e', 'production'],
      ['push', '-e', 'production'],
    ]) {
      const result = await world.cli(...step)
      assert.equal(result.code, 0, show(result))
    }

    version = JSON.parse(readFileSync(path.join(path.dirname(BIN), '..', 'package.json'), 'utf8')).version

    // A Node.js tarball laid out as the Node.js project ships them, made from the node running these tests.
    const served = path.join(world.dir, 'mirror')
    const staged = path.join(world.dir, 'node-staging', 'node-v20-linux-x64')
    mkdirSync(path.join(staged, 'bin'), {recursive: true})
    mkdirSync(served)
    cpSync(process.execPath, path.join(staged, 'bin', 'node'))
    // npm comes along where it sits beside this node (a node from the npm registry has none; npm is a stand-in here anyway).
    const npm = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm')
    if (existsSync(npm)) {
      cpSync(npm, path.join(staged, 'lib', 'node_modules', 'npm'), {recursive: true})
      symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(staged, 'bin', 'npm'))
    }
    const tarball = path.join(served, 'node-v20-linux-x64.tar.gz')
    await run('tar', ['-czf', tarball, '-C', path.dirname(staged), 'node-v20-linux-x64'])
    tarballSha = createHash('sha256').update(readFileSync(tarball)).digest('hex')
    nginx = await startNginx(served, path.join(world.dir, 'nginx'))

    const render = async (name: keyof typeof scripts, sha: string, ...flags: string[]) => {
      const settings = {
        ...world.settings,
        bootstrap: {
          app_cache: path.join(world.dir, 'node-cache'),
          node_tarballs: {x86_64: {sha256: sha, url: `${nginx.https}node-v20-linux-x64.tar.gz`}},
          npm_registry: 'http://127.0.0.1:9/',
        },
      }
      const file = path.join(world.dir, `settings-${name}.yaml`)
      writeFileSync(file, dump(settings))
      scripts[name] = path.join(world.dir, `bootstrap-${name}.sh`)
      const rendered = await world.cliWith(
        file,
        'bootstrap',
        '--template',
        'debian-12',
        '--output',
        scripts[name],
        ...flags,
      )
      assert.equal(rendered.code, 0, show(rendered))
    }

    await render('daemon', tarballSha)
    await render('timer', tarballSha, '--schedule', 'timer')
    await render('tampered', createHash('sha256').update('something else').digest('hex'))
  })
  after(async () => {
    await nginx?.stop()
    world?.cleanup()
  })

  /** Runs a script in a new mount namespace; what it writes to the overlaid directories lands under `changes`. */
  function bootstrap(script: string, changes: string, env: Record<string, string> = {}): Promise<string> {
    const overlays = {'/etc': 'etc', '/opt': 'opt', '/usr/local': 'usr-local', '/var/cache': 'var-cache'}
    for (const dir of Object.values(overlays)) {
      mkdirSync(path.join(changes, dir), {recursive: true})
      mkdirSync(path.join(changes, `work-${dir}`), {recursive: true})
    }

    const mounts = Object.entries(overlays)
      .map(
        ([target, dir]) =>
          `mount -t overlay overlay -o "lowerdir=${target},upperdir=$CHANGES/${dir},workdir=$CHANGES/work-${dir}" ${target}`,
      )
      .join('\n')
    const stubs = Object.entries(STUBS)
      .map(([name, body]) => `cat >/usr/local/sbin/${name} <<'STUB'\n${body}STUB\nchmod 0755 /usr/local/sbin/${name}`)
      .join('\n')
    const inside = `set -euo pipefail\n${mounts}\nmkdir -p /usr/local/sbin\n${stubs}\nbash "$SCRIPT" 2>&1\n`
    return run('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', inside], {
      env: {
        CHANGES: changes,
        CURL_CA_BUNDLE: nginx.ca,
        NODE: process.execPath,
        PUPISTRY: BIN,
        PUPISTRY_VERSION: version,
        SCRIPT: script,
        STUB_LOG: path.join(changes, 'stub.log'),
        ...env,
      },
    })
  }

  const changes = () => path.join(world.dir, 'root')
  const stubLog = () => readFileSync(path.join(changes(), 'stub.log'), 'utf8')
  const downloads = () => nginx.requests().filter((line) => line.includes('node-v20-linux-x64.tar.gz'))

  it(
    'runs to the end: Puppet and pupistry by the package managers, Node.js downloaded and verified, ' +
      'settings, unit, first apply',
    async () => {
      const out = await bootstrap(scripts.daemon, changes())
      assert.match(stubLog(), /^apt-get update -q$/m)
      assert.match(stubLog(), /^apt-get install -y -q --no-install-recommends puppet-agent$/m)
      assert.match(
        stubLog(),
        new RegExp(
          `^npm install --global --prefix /opt/pupistry --no-audit --no-fund --omit=dev ` +
            `pupistry@${version.replaceAll('.', '\\.')} \\(registry http://127\\.0\\.0\\.1:9/\\)$`,
          'm',
        ),
      )
      assert.deepEqual(downloads(), ['GET /node-v20-linux-x64.tar.gz 200'])
      assert.match(out, new RegExp(`pupistry-bootstrap: installed Node.js ${process.version.replaceAll('.', '\\.')}`))
      assert.equal(readFileSync(path.join(changes(), 'opt', 'pupistry', 'node', '.sha256'), 'utf8'), `${tarballSha}\n`)
      assert.equal(readlinkSync(path.join(changes(), 'usr-local', 'bin', 'node')), '/opt/pupistry/node/bin/node')
      assert.equal(readlinkSync(path.join(changes(), 'usr-local', 'bin', 'pupistry')), '/opt/pupistry/bin/pupistry')
      assert.match(out, /pupistry-bootstrap: wrote \/etc\/pupistry\/settings\.yaml/)
      assert.match(out, /production: installed serial 1 \([0-9a-f]{12}\); puppet applied changes \(exit 2\)/)
      assert.match(out, /pupistry-bootstrap: done: pupistry \S+ applies environment production/)
    },
  )

  it('wrote the settings file 0600 with the store, the environment and the inlined trusted key', () => {
    const file = path.join(changes(), 'etc', 'pupistry', 'settings.yaml')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const settings = parseSettings(readFileSync(file, 'utf8'), file)
    assert.deepEqual(settings.warnings, [])
    assert.equal(settings.general.storage, world.settings.general.storage)
    assert.deepEqual(settings.general.trusted_keys, ['/etc/pupistry/trusted-keys'])
    assert.equal(settings.agent.environment, 'production')
    assert.equal(settings.agent.access_key_id, undefined)
    const key = path.join(changes(), 'etc', 'pupistry', 'trusted-keys', 'pupistry-signing.public.asc')
    assert.equal(readFileSync(key, 'utf8'), readFileSync(path.join(world.keys, 'pupistry-signing.public.asc'), 'utf8'))
    assert.equal(statSync(key).mode & 0o777, 0o644)
  })

  it('installed and enabled the systemd unit running apply --daemon', () => {
    const unit = readFileSync(path.join(changes(), 'etc', 'systemd', 'system', 'pupistry.service'), 'utf8')
    assert.match(
      unit,
      /^ExecStart=\/usr\/local\/bin\/pupistry apply --daemon --config \/etc\/pupistry\/settings\.yaml$/m,
    )
    const wants = path.join(changes(), 'etc', 'systemd', 'system', 'multi-user.target.wants', 'pupistry.service')
    assert.ok(lstatSync(wants).isSymbolicLink())
    assert.equal(readlinkSync(wants), '/etc/systemd/system/pupistry.service')
  })

  it('the first apply activated the release and Puppet applied it', () => {
    assert.ok(existsSync(path.join(world.puppetcode, 'production')))
    assert.match(world.targetFile('greeting.txt'), /production says hi/)
  })

  it('is safe to run again: nothing downloaded or reinstalled, nothing rewritten, apply finds the release current', async () => {
    const npmCalls = stubLog().match(/^npm /gm)?.length
    const again = await bootstrap(scripts.daemon, changes())
    assert.equal(downloads().length, 1)
    assert.equal(stubLog().match(/^npm /gm)?.length, npmCalls)
    assert.match(
      again,
      /pupistry-bootstrap: Node\.js from https:\/\/127\.0\.0\.1:\d+\/node-v20-linux-x64\.tar\.gz is installed/,
    )
    assert.match(again, /pupistry-bootstrap: pupistry \S+ is installed/)
    assert.match(again, /pupistry-bootstrap: unchanged: \/etc\/pupistry\/settings\.yaml/)
    assert.match(again, /pupistry-bootstrap: unchanged: \/etc\/systemd\/system\/pupistry\.service/)
    assert.match(again, /production: current serial 1 /)
    assert.match(again, /pupistry-bootstrap: done/)
  })

  it('switches to --schedule timer when run with that script (package steps skipped by PUPISTRY_BOOTSTRAP_SKIP_PACKAGES=1)', async () => {
    const out = await bootstrap(scripts.timer, changes(), {PUPISTRY_BOOTSTRAP_SKIP_PACKAGES: '1'})
    assert.match(out, /PUPISTRY_BOOTSTRAP_SKIP_PACKAGES=1: not installing Puppet, Node\.js or pupistry/)
    assert.match(out, /pupistry-bootstrap: done/)
    const units = path.join(changes(), 'etc', 'systemd', 'system')
    assert.match(readFileSync(path.join(units, 'pupistry.service'), 'utf8'), /^Type=oneshot$/m)
    assert.match(readFileSync(path.join(units, 'pupistry.timer'), 'utf8'), /^OnUnitActiveSec=300$/m)
    assert.equal(
      readlinkSync(path.join(units, 'timers.target.wants', 'pupistry.timer')),
      '/etc/systemd/system/pupistry.timer',
    )
    assert.equal(existsSync(path.join(units, 'multi-user.target.wants', 'pupistry.service')), false)
  })

  it('stops before installing a Node.js whose SHA-256 is not the one in the settings', async () => {
    const fresh = path.join(world.dir, 'root-tampered')
    const failure = await bootstrap(scripts.tampered, fresh).then(
      () => assert.fail('the script succeeded'),
      (error: Error) => error.message,
    )
    assert.match(failure, /exited 1/)
    assert.match(
      failure,
      new RegExp(
        /pupistry-bootstrap: error: https:\/\/127\.0\.0\.1:\d+\/node-v20-linux-x64\.tar\.gz /.source +
          /does not have the SHA-256 the settings give \([0-9a-f]{64}\); not installing it/.source,
      ),
    )
    assert.equal(existsSync(path.join(fresh, 'opt', 'pupistry', 'node')), false)
    assert.deepEqual(readdirSync(path.join(fresh, 'var-cache', 'pupistry-bootstrap')), [])
    assert.equal(existsSync(path.join(fresh, 'etc', 'pupistry', 'settings.yaml')), false)
  })
})
