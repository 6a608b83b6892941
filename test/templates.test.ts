import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {parseSettings} from '../src/config/settings.js'
import {type CliResult, ROOT, run, runCli, show} from './helpers/cli.js'
import {matchSnapshot} from './helpers/snapshot.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-templates-'))
after(() => rmSync(scratch, {force: true, recursive: true}))

const BOOTSTRAP = [
  'amazon-linux-2023',
  'centos-7',
  'debian-11',
  'debian-12',
  'debian-13',
  'fedora',
  'rhel-8',
  'rhel-9',
  'ubuntu-14.04',
  'ubuntu-20.04',
  'ubuntu-22.04',
  'ubuntu-24.04',
]
const ALIASES: Record<string, string> = {
  'alma-8': 'rhel-8',
  'alma-9': 'rhel-9',
  centos7: 'centos-7',
  'rocky-8': 'rhel-8',
  'rocky-9': 'rhel-9',
  rhel7: 'centos-7',
  ubuntu14: 'ubuntu-14.04',
}
const PACKER: Record<string, string> = {
  'aws-amazon-linux-2023': 'amazon-linux-2023',
  'aws-ubuntu-24.04': 'ubuntu-24.04',
}

/**
 * A trusted key file as `pupistry keys export` writes one. Rendering only
 * inlines the text, so a fixed armoured block keeps the snapshots stable
 * (the end-to-end test uses a real key that apply verifies with).
 */
const PUBLIC_KEY = `-----BEGIN PGP PUBLIC KEY BLOCK-----

xjMEaUZ9ABYJKwYBBAHaRw8BAQdAc2FtcGxlIGtleSBieXRlcyBmb3IgcHVwaXN0cnkg
dGVtcGxhdGUgdGVzdHM=
=Pupi
-----END PGP PUBLIC KEY BLOCK-----
`
const sha = (digit: string) => digit.repeat(64)
const AGENT_SECRET = `agent'secret"$(touch /tmp/pwned)\`x\`{{ .Vars }}`

/** Settings as an operator running a mixed fleet has them: S3 store, both sides' credentials, every bootstrap key. */
function realisticSettings(
  overrides: {agent?: object; build?: object; general?: object; bootstrap?: object} = {},
): Record<string, object> {
  return {
    agent: {
      access_key_id: 'AKIAAGENTREADONLY',
      daemon_frequency: 600,
      environment: 'production',
      region: 'eu-west-1',
      secret_access_key: AGENT_SECRET,
      ...overrides.agent,
    },
    bootstrap: {
      node_legacy_tarballs: {
        x86_64: {
          sha256: sha('3'),
          url: 'https://mirror.example.com/node/v22.12.0/node-v22.12.0-linux-x64-glibc-217.tar.xz',
        },
      },
      node_tarballs: {
        aarch64: {sha256: sha('b'), url: 'https://mirror.example.com/node/v22.12.0/node-v22.12.0-linux-arm64.tar.xz'},
        x86_64: {sha256: sha('a'), url: 'https://mirror.example.com/node/v22.12.0/node-v22.12.0-linux-x64.tar.xz'},
      },
      npm_registry: 'https://npm.example.com/',
      puppet_package: 'openvox-agent',
      puppet_repos: {
        'amazon-linux-2023': {sha256: sha('4'), url: 'https://yum.example.com/openvox8-release-amazon-2023.noarch.rpm'},
        'centos-7': {sha256: sha('5'), url: 'https://yum.example.com/openvox8-release-el-7.noarch.rpm'},
        'rhel-8': {sha256: sha('6'), url: 'https://yum.example.com/openvox8-release-el-8.noarch.rpm'},
        'rhel-9': {sha256: sha('7'), url: 'https://yum.example.com/openvox8-release-el-9.noarch.rpm'},
      },
      ...overrides.bootstrap,
    },
    build: {
      access_key_id: 'AKIABUILDWRITER',
      puppetcode: 'https://git.example.com/ops/puppet-control.git',
      region: 'eu-west-1',
      secret_access_key: 'build-secret-never-on-nodes',
      ...overrides.build,
    },
    general: {
      s3_checksums: 'when_required',
      storage: 's3://acme-puppet/fleet',
      trusted_keys: [path.join(scratch, 'keys')],
      ...overrides.general,
    },
  }
}

let counter = 0
function settingsFile(settings: Record<string, object>): string {
  const file = path.join(scratch, `settings-${++counter}.yaml`)
  writeFileSync(file, dump(settings))
  return file
}

let realistic: string
before(() => {
  mkdirSync(path.join(scratch, 'keys'))
  writeFileSync(path.join(scratch, 'keys', 'ops-2026.asc'), PUBLIC_KEY)
  realistic = settingsFile(realisticSettings())
})

async function render(args: string[], file = realistic): Promise<CliResult> {
  return runCli([...args, '--config', file])
}

async function checkShell(script: string, name: string): Promise<void> {
  const file = path.join(scratch, `${name}.sh`)
  writeFileSync(file, script)
  await run('bash', ['-n', file])
  // Debian's shellcheck, every severity down to style: no finding is accepted.
  await run('/usr/bin/shellcheck', ['--severity=style', file])
}

/** The settings file a script writes: the here-document after `put_file "$settings_file"`. */
function settingsInScript(script: string): string {
  const match = /put_file "\$settings_file" 0600 <<'(\w+)'\n([\s\S]*?)\n\1\n/.exec(script)
  assert.ok(match, 'the script writes the settings file')
  return `${match[2]}\n`
}

describe('pupistry bootstrap', () => {
  it('lists every template with its aliases and the plugin that provides it', async () => {
    const result = await render(['bootstrap'])
    assert.equal(result.code, 0, show(result))
    for (const name of BOOTSTRAP)
      assert.match(result.stdout, new RegExp(`^${name.replaceAll('.', '\\.')} +pupistry@`, 'm'))
    assert.match(result.stdout, /^centos-7 .*end of life.*\(also rhel7, centos7\)$/m)
    const json = JSON.parse((await render(['bootstrap', '--json'])).stdout) as Array<{
      name: string
      aliases: string[]
      plugin: string
    }>
    assert.deepEqual(
      json.map((entry) => entry.name),
      BOOTSTRAP,
    )
    assert.deepEqual(json.find((entry) => entry.name === 'rhel-9')?.aliases, ['rocky-9', 'alma-9'])
    assert.ok(json.every((entry) => entry.plugin === 'pupistry'))
  })

  for (const name of BOOTSTRAP) {
    it(`renders ${name}: bash -n and shellcheck clean, as in its snapshot`, async () => {
      const result = await render(['bootstrap', '--template', name])
      assert.equal(result.code, 0, show(result))
      assert.equal(result.stderr, '')
      await checkShell(result.stdout, name)
      matchSnapshot(`bootstrap/${name}.sh`, result.stdout)
    })
  }

  it('renders the same script under each alias', async () => {
    for (const [alias, name] of Object.entries(ALIASES)) {
      const [byAlias, byName] = await Promise.all([
        render(['bootstrap', '-t', alias]),
        render(['bootstrap', '-t', name]),
      ])
      assert.equal(byAlias.code, 0, show(byAlias))
      assert.equal(byAlias.stdout, byName.stdout, `${alias} renders ${name}`)
    }
  })

  it('says so in the header of the end-of-life releases, and verifies their Node.js tarball with sha256sum', async () => {
    for (const name of ['ubuntu-14.04', 'centos-7']) {
      const script = (await render(['bootstrap', '-t', name])).stdout
      assert.match(script, /^# END OF LIFE: /m)
      assert.match(script, /node-v22\.12\.0-linux-x64-glibc-217\.tar\.xz sum=3{64} ;;/)
      assert.match(script, /sha256sum "\$file\.part"/)
    }

    assert.match((await render(['bootstrap', '-t', 'ubuntu14'])).stdout, /put_file \/etc\/init\/pupistry\.conf/)
  })

  it('with --schedule timer installs a oneshot service and a timer running apply --minimal', async () => {
    const result = await render(['bootstrap', '-t', 'debian-12', '--schedule', 'timer'])
    assert.equal(result.code, 0, show(result))
    await checkShell(result.stdout, 'debian-12-timer')
    assert.match(
      result.stdout,
      /Type=oneshot\nExecStart=\/usr\/local\/bin\/pupistry apply --minimal --config \/etc\/pupistry\/settings\.yaml/,
    )
    assert.match(result.stdout, /OnUnitActiveSec=600\n/)
    matchSnapshot('bootstrap/debian-12-timer.sh', result.stdout)
    const upstart = await render(['bootstrap', '-t', 'ubuntu14', '--schedule', 'timer'])
    assert.equal(upstart.code, 2, show(upstart))
    assert.match(upstart.stderr, /template "ubuntu-14\.04": upstart has no timers/)
  })

  it('with build.hieracrypt makes the node key and prints its registry file before the first apply', async () => {
    const result = await render(
      ['bootstrap', '-t', 'debian-12'],
      settingsFile(realisticSettings({build: {hieracrypt: true}})),
    )
    assert.equal(result.code, 0, show(result))
    await checkShell(result.stdout, 'debian-12-sealed')
    assert.match(result.stdout, /"\$pupistry_bin" node init --config "\$settings_file" >&2/)
    assert.match(result.stdout, /\ninstall_service\nnode_init\nfirst_apply\n/)
    const plain = await render(['bootstrap', '-t', 'debian-12'])
    assert.doesNotMatch(plain.stdout, /node init/)
  })

  it('--base64 prints the same script, base64-encoded', async () => {
    const [plain, encoded] = await Promise.all([
      render(['bootstrap', '-t', 'rhel-9']),
      render(['bootstrap', '-t', 'rhel-9', '--base64']),
    ])
    assert.equal(encoded.code, 0, show(encoded))
    assert.match(encoded.stdout, /^[A-Za-z0-9+/=]+\n$/)
    assert.equal(Buffer.from(encoded.stdout, 'base64').toString('utf8'), plain.stdout)
  })

  it('--json with a template prints one object: the text and whether it holds credentials, or the file it went to', async () => {
    const file = path.join(scratch, 'json-output.sh')
    const [plain, json, written] = await Promise.all([
      render(['bootstrap', '-t', 'rhel-9']),
      render(['bootstrap', '-t', 'rhel-9', '--json']),
      render(['bootstrap', '-t', 'rhel-9', '--json', '--output', file]),
    ])
    assert.equal(json.code, 0, show(json))
    assert.deepEqual(JSON.parse(json.stdout), {credentials: true, text: plain.stdout})
    assert.equal(written.code, 0, show(written))
    assert.deepEqual(JSON.parse(written.stdout), {credentials: true, file})
    assert.equal(readFileSync(file, 'utf8'), plain.stdout)
  })

  it('writes the agent credentials only, the store, the inlined keys and the environment; quoting survives', async () => {
    const result = await render(['bootstrap', '-t', 'debian-12', '--environment', 'staging'])
    assert.equal(result.code, 0, show(result))
    assert.doesNotMatch(result.stdout, /build-secret-never-on-nodes|AKIABUILDWRITER/)
    const written = parseSettings(settingsInScript(result.stdout), 'node.yaml')
    assert.deepEqual(written.warnings, [])
    assert.equal(written.agent.secret_access_key, AGENT_SECRET)
    assert.equal(written.agent.access_key_id, 'AKIAAGENTREADONLY')
    assert.equal(written.agent.environment, 'staging')
    assert.equal(written.general.storage, 's3://acme-puppet/fleet')
    assert.deepEqual(written.general.trusted_keys, ['/etc/pupistry/trusted-keys'])
    assert.ok(
      result.stdout.includes(`cat >"$trusted_keys_dir.new/"ops-2026.asc <<'PUPISTRY_EOF'\n${PUBLIC_KEY}PUPISTRY_EOF\n`),
    )
    assert.match(result.stdout, /^export npm_config_registry=https:\/\/npm\.example\.com\/$/m)
    assert.match(result.stdout, /^pupistry_version=3\.0\.0-alpha\.1$/m)
  })

  it('gives nodes the mirror they read from (agent.storage) next to the store manifests are bound to', async () => {
    const file = settingsFile(
      realisticSettings({agent: {allow_insecure_http: false, storage: 'https://puppet-mirror.example.com/fleet/'}}),
    )
    const result = await render(['bootstrap', '-t', 'ubuntu-24.04'], file)
    assert.equal(result.code, 0, show(result))
    const written = parseSettings(settingsInScript(result.stdout), 'node.yaml')
    assert.equal(written.agent.storage, 'https://puppet-mirror.example.com/fleet/')
    assert.equal(written.agent.allow_insecure_http, false)
    assert.equal(written.general.storage, 's3://acme-puppet/fleet')
  })

  it('gives the service manager agent.stop_timeout + 40 s to stop the daemon, and nodes the same stop_timeout', async () => {
    const defaults = await render(['bootstrap', '-t', 'debian-12'])
    assert.match(defaults.stdout, /^TimeoutStopSec=100$/m)
    const file = settingsFile(realisticSettings({agent: {stop_timeout: '5m'}}))
    const [systemd, upstart] = await Promise.all([
      render(['bootstrap', '-t', 'debian-12'], file),
      render(['bootstrap', '-t', 'ubuntu-14.04'], file),
    ])
    assert.equal(systemd.code, 0, show(systemd))
    assert.match(systemd.stdout, /^TimeoutStopSec=340$/m)
    assert.equal(parseSettings(settingsInScript(systemd.stdout), 'node.yaml').agent.stop_timeout, '5m')
    assert.equal(upstart.code, 0, show(upstart))
    assert.match(upstart.stdout, /^kill timeout 340$/m)
    await checkShell(upstart.stdout, 'ubuntu-14.04-stop-timeout')
  })

  it('refuses to give nodes the build credentials unless --allow-build-credentials', async () => {
    const file = settingsFile(realisticSettings({agent: {access_key_id: null, secret_access_key: null}}))
    const refused = await render(['bootstrap', '-t', 'debian-12'], file)
    assert.equal(refused.code, 10, show(refused))
    assert.match(
      refused.stderr,
      /^pupistry: error: only build credentials are set in .*settings-\d+\.yaml: nodes must not get credentials that can write the store$/m,
    )
    assert.equal(refused.stdout, '')
    const allowed = await render(['bootstrap', '-t', 'debian-12', '--allow-build-credentials'], file)
    assert.equal(allowed.code, 0, show(allowed))
    assert.equal(
      parseSettings(settingsInScript(allowed.stdout), 'node.yaml').agent.secret_access_key,
      'build-secret-never-on-nodes',
    )
  })

  it('--output writes 0600 when the script holds credentials, and none are written when none are set (instance role)', async () => {
    const withCredentials = path.join(scratch, 'with-credentials.sh')
    const result = await render(['bootstrap', '-t', 'debian-12', '--output', withCredentials])
    assert.equal(result.code, 0, show(result))
    assert.equal(statSync(withCredentials).mode & 0o777, 0o600)
    assert.match(result.stderr, /mode 0600/)

    const none = settingsFile(
      realisticSettings({
        agent: {access_key_id: null, secret_access_key: null},
        build: {access_key_id: null, secret_access_key: null},
      }),
    )
    const withoutCredentials = path.join(scratch, 'instance-role.sh')
    writeFileSync(withoutCredentials, 'old', {mode: 0o600})
    const plain = await render(['bootstrap', '-t', 'debian-12', '--output', withoutCredentials], none)
    assert.equal(plain.code, 0, show(plain))
    assert.equal(statSync(withoutCredentials).mode & 0o777, 0o644)
    const written = parseSettings(settingsInScript(readFileSync(withoutCredentials, 'utf8')), 'node.yaml')
    assert.equal(written.agent.access_key_id, undefined)
    assert.equal(written.agent.secret_access_key, undefined)
  })

  it('stops with the settings key a template needs, before rendering anything', async () => {
    const file = settingsFile(realisticSettings({bootstrap: {puppet_repos: null}}))
    const result = await render(['bootstrap', '-t', 'rocky-9'], file)
    assert.equal(result.code, 10, show(result))
    assert.match(
      result.stderr,
      /template "rhel-9" needs bootstrap\.puppet_repos \(.*\), which is not set in .*settings-\d+\.yaml/,
    )
    assert.equal(result.stdout, '')
  })

  it('refuses a secret key among the trusted keys, and a node without any trusted key', async () => {
    const secretDir = path.join(scratch, 'secret-keys')
    mkdirSync(secretDir)
    writeFileSync(
      path.join(secretDir, 'oops.asc'),
      '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nx\n-----END PGP PRIVATE KEY BLOCK-----\n',
    )
    const secret = await render(
      ['bootstrap', '-t', 'debian-12'],
      settingsFile(realisticSettings({general: {trusted_keys: secretDir}})),
    )
    assert.equal(secret.code, 10, show(secret))
    assert.match(secret.stderr, /oops\.asc holds a SECRET key/)
    const none = await render(
      ['bootstrap', '-t', 'debian-12'],
      settingsFile(realisticSettings({general: {trusted_keys: null}})),
    )
    assert.equal(none.code, 10, show(none))
    assert.match(none.stderr, /general\.trusted_keys is not set .*: nodes would refuse every release/)
  })

  it('names the templates when one does not exist (exit 2)', async () => {
    const result = await render(['bootstrap', '-t', 'solaris-11'])
    assert.equal(result.code, 2, show(result))
    assert.match(
      result.stderr,
      /no bootstrap template named "solaris-11" \(available: amazon-linux-2023, centos-7, .*ubuntu-24\.04\)/,
    )
  })
})

describe('pupistry packer', () => {
  it('lists the packer templates', async () => {
    const result = await render(['packer'])
    assert.equal(result.code, 0, show(result))
    assert.deepEqual(
      result.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[0]),
      Object.keys(PACKER),
    )
  })

  for (const [name, bootstrap] of Object.entries(PACKER)) {
    it(`renders ${name}: packer fmt -check, packer validate, and the bootstrap inside arrives byte for byte`, async () => {
      const file = path.join(scratch, `${name}.pkr.hcl`)
      const result = await render(['packer', '--template', name, '--file', file])
      assert.equal(result.code, 0, show(result))
      assert.equal(statSync(file).mode & 0o777, 0o600)
      const hcl = readFileSync(file, 'utf8')
      matchSnapshot(`packer/${name}.pkr.hcl`, hcl)
      // Packer 1.6.6 (Debian's) parses and formats HCL2 fully: the file is canonical as rendered.
      await run('/usr/bin/packer', ['fmt', '-check', file])
      // It predates `required_plugins` (packer 1.7), so the full validation (builder and provisioner
      // configuration included) runs on the file without that one block.
      const block = /^packer \{\n {2}required_plugins \{\n[\s\S]*?\n {2}\}\n\}\n/m
      assert.match(hcl, block)
      const older = path.join(scratch, `${name}-1.6.pkr.hcl`)
      writeFileSync(older, hcl.replace(block, ''))
      assert.match(await run('/usr/bin/packer', ['validate', older]), /^$/)
      // packer evaluates the embedded heredoc: it must give the bootstrap script exactly.
      const evaluated = await run('/usr/bin/packer', ['console', older], {input: 'local.bootstrap\n'})
      const script = (await render(['bootstrap', '--template', bootstrap])).stdout
      assert.equal(evaluated, `${script}\n`)

      // The provisioner's commands, run by a real `packer build` here: the same lines with a
      // local builder and shell-local instead of AWS and ssh, the script copied instead of run.
      const delivered = path.join(scratch, `${name}-delivered.sh`)
      const kept = path.join(scratch, `${name}-kept.sh`)
      const local = hcl
        .replace(block, '')
        .replace(
          /^source "amazon-ebs" "pupistry" \{\n[\s\S]*?\n\}\n/m,
          'source "null" "pupistry" {\n  communicator = "none"\n}\n',
        )
        .replace('source.amazon-ebs.pupistry', 'source.null.pupistry')
        .replace('provisioner "shell" {', 'provisioner "shell-local" {')
        .replace('"sudo bash /tmp/pupistry-bootstrap.sh"', `"cp -p /tmp/pupistry-bootstrap.sh ${kept}"`)
        .replaceAll('/tmp/pupistry-bootstrap.sh', delivered)
      assert.match(local, /source "null" "pupistry"[\s\S]*provisioner "shell-local"[\s\S]*base64 -d >/)
      const localFile = path.join(scratch, `${name}-local.pkr.hcl`)
      writeFileSync(localFile, local)
      await run('/usr/bin/packer', ['build', '-color=false', localFile], {
        env: {CHECKPOINT_DISABLE: '1', PACKER_CACHE_DIR: path.join(scratch, 'packer-cache')},
      })
      assert.equal(readFileSync(kept, 'utf8'), script)
      assert.equal(statSync(kept).mode & 0o777, 0o600)
      assert.equal(existsSync(delivered), false, 'the script holding credentials is removed after the run')
    })
  }
})

describe('plugin templates', () => {
  const dataDir = path.join(scratch, 'oclif')
  const env = {
    PUPISTRY_CACHE_DIR: path.join(dataDir, 'cache'),
    PUPISTRY_CONFIG_DIR: path.join(dataDir, 'config'),
    PUPISTRY_DATA_DIR: path.join(dataDir, 'data'),
  }
  const withPlugin = (args: string[]) => runCli([...args, '--config', realistic], {env})

  before(async () => {
    const linked = await runCli(
      ['plugins', 'link', '--no-install', path.join(ROOT, 'test', 'fixtures', 'template-plugin')],
      {env},
    )
    assert.equal(linked.code, 0, show(linked))
  })

  it("lists a plugin's templates with the plugin, and reports names that clash with the core's", async () => {
    const result = await withPlugin(['bootstrap'])
    assert.equal(result.code, 0, show(result))
    assert.match(
      result.stdout,
      /^acme-linux +pupistry-fixture-templates@1\.2\.3 +Acme Linux \(fixture\) \(also acme\)$/m,
    )
    assert.match(result.stdout, /^debian-12 +pupistry@/m)
    assert.match(
      result.stderr,
      /warning: template "debian-12" is offered by both pupistry and pupistry-fixture-templates; using pupistry/,
    )
    assert.match(
      result.stderr,
      /warning: template "rocky-9" of pupistry-fixture-templates clashes with the names of "rhel-9" of pupistry; using pupistry/,
    )
    assert.match(
      result.stderr,
      /warning: template "preamble" is offered by both pupistry and pupistry-fixture-templates; using pupistry/,
    )
  })

  it('the core wins a clash: debian-12 and its partials render as without the plugin', async () => {
    const result = await withPlugin(['bootstrap', '-t', 'debian-12'])
    assert.equal(result.code, 0, show(result))
    assert.equal(result.stdout, (await render(['bootstrap', '-t', 'debian-12'])).stdout)
    assert.doesNotMatch(result.stdout, /fixture plugin/)
  })

  it("renders a plugin template built on the core's partials and its own", async () => {
    const result = await withPlugin(['bootstrap', '-t', 'acme'])
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /^motd$/m)
    assert.match(
      result.stderr,
      /warning: plugin pupistry-fixture-templates is linked from .*template-plugin: nodes do not get it/,
    )
    await checkShell(result.stdout, 'acme-linux')
  })

  it('stops a template that refers to a value the context lacks (exit 17), naming it', async () => {
    const result = await withPlugin(['bootstrap', '-t', 'broken-strict'])
    assert.equal(result.code, 17, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: template "broken-strict" \(.*broken-strict\.sh\.hbs\): "node\.tarbals" is not a value of the template context$/m,
    )
    assert.equal(result.stdout, '')
  })
})
