/**
 * The companion Puppet module (puppet/pupistry) with the real tools: Puppet's
 * own validators, puppet-lint, rspec-puppet, `puppet apply` into a temporary
 * root, systemd-analyze, and `pupistry doctor` / `pupistry bootstrap` from
 * this build. Needs root: the module makes root own what it writes.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {parse as load, stringify as dump} from 'yaml'

import {BIN, type CliResult, execute, ROOT, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

const MODULE = path.join(ROOT, 'puppet', 'pupistry')
/** Debian's puppet-module-puppetlabs-stdlib installs here. */
const SYSTEM_MODULES = '/usr/share/puppet/modules'
const MODULEPATH = `${path.join(ROOT, 'puppet')}:${SYSTEM_MODULES}`

/** Runs a program and returns its exit code and output, whatever the code. */
function filesUnder(dir: string, extension: string): string[] {
  return readdirSync(dir, {recursive: true, encoding: 'utf8'})
    .filter((name) => name.endsWith(extension))
    .map((name) => path.join(dir, name))
}

/** Every path under a directory with its type, mode and owner, for before/after comparisons. */
function listing(root: string): Record<string, string> {
  const result: Record<string, string> = {}
  for (const name of readdirSync(root, {recursive: true, encoding: 'utf8'}).sort()) {
    const stats = statSync(path.join(root, name))
    result[name] =
      `${stats.isDirectory() ? 'dir' : 'file'} ${(stats.mode & 0o7777).toString(8).padStart(4, '0')} uid ${stats.uid}`
  }

  return result
}

/**
 * A Puppet of its own (confdir, vardir, logdir in a temporary directory), so
 * that runs neither read nor change this machine's Puppet state. Judged by
 * the exit code (--detailed-exitcodes: 0 nothing changed, 2 changes): Facter
 * prints errors here on every run that do not fail it.
 */
class PuppetHome {
  readonly vardir: string
  constructor(readonly dir: string) {
    this.vardir = path.join(dir, 'var')
  }

  apply(manifest: string, extra: string[] = []): Promise<CliResult> {
    const site = path.join(this.dir, `site-${Date.now()}.pp`)
    writeFileSync(site, manifest)
    return execute('puppet', [
      'apply',
      '--detailed-exitcodes',
      '--color',
      'false',
      '--modulepath',
      MODULEPATH,
      '--confdir',
      path.join(this.dir, 'conf'),
      '--vardir',
      this.vardir,
      '--logdir',
      path.join(this.dir, 'log'),
      ...extra,
      site,
    ])
  }

  lastReport(): string {
    return readFileSync(path.join(this.vardir, 'state', 'last_run_report.yaml'), 'utf8')
  }
}

/** The unit files a bootstrap script writes, by name, exactly as they land on disk. */
function bootstrapUnits(script: string): Record<string, string> {
  const units: Record<string, string> = {}
  for (const match of script.matchAll(
    /^ {2}put_file \/etc\/systemd\/system\/(pupistry\.(?:service|timer)) 0644 <<'UNIT'\n([\s\S]*?)^UNIT$/gm,
  )) {
    units[match[1]] = match[2]
  }

  return units
}

describe('the companion Puppet module', () => {
  it('parses, its templates are valid EPP, and puppet-lint finds nothing', async () => {
    const code = ['manifests', 'functions', 'types'].flatMap((dir) => filesUnder(path.join(MODULE, dir), '.pp'))
    const examples = filesUnder(path.join(MODULE, 'examples'), '.pp')
    assert.ok(
      code.length >= 10 && examples.length >= 2,
      `only ${code.length} manifests and ${examples.length} examples found`,
    )
    // Examples are top-level code, which Puppet refuses in a file it finds on the module path.
    for (const [files, modulepath] of [
      [code, ['--modulepath', MODULEPATH]],
      [examples, []],
    ]) {
      const parsed = await execute('puppet', ['parser', 'validate', ...modulepath, ...files])
      assert.equal(parsed.code, 0, show(parsed))
    }

    const manifests = [...code, ...examples]
    const templates = filesUnder(path.join(MODULE, 'templates'), '.epp')
    assert.ok(templates.length >= 3)
    for (const template of templates) {
      const result = await execute('puppet', ['epp', 'validate', template])
      assert.equal(result.code, 0, `${template}\n${show(result)}`)
    }

    const lint = await execute('puppet-lint', ['--fail-on-warnings', ...manifests])
    assert.equal(lint.code, 0, show(lint))
    assert.equal(lint.stdout, '')
  })

  it('metadata.json: Puppet 7 and 8, stdlib, and every OS a systemd bootstrap template supports', async () => {
    const metadata = JSON.parse(readFileSync(path.join(MODULE, 'metadata.json'), 'utf8')) as {
      name: string
      requirements: Array<{name: string; version_requirement: string}>
      dependencies: Array<{name: string; version_requirement: string}>
      operatingsystem_support: Array<{operatingsystem: string; operatingsystemrelease?: string[]}>
    }
    assert.match(metadata.name, /^[a-z0-9]+-pupistry$/)
    assert.deepEqual(metadata.requirements, [{name: 'puppet', version_requirement: '>= 7.0.0 < 9.0.0'}])
    assert.deepEqual(
      metadata.dependencies.map((dependency) => dependency.name),
      ['puppetlabs/stdlib'],
    )
    const supported = new Set(
      metadata.operatingsystem_support.flatMap(({operatingsystem, operatingsystemrelease}) =>
        (operatingsystemrelease ?? ['any']).map((release) => `${operatingsystem} ${release}`),
      ),
    )
    // Each bootstrap template → the metadata entries it stands for; upstart's ubuntu-14.04 has no systemd for the module's units.
    const expected: Record<string, string[]> = {
      'amazon-linux-2023': ['Amazon 2023'],
      'centos-7': ['CentOS 7'],
      'debian-11': ['Debian 11'],
      'debian-12': ['Debian 12'],
      'debian-13': ['Debian 13'],
      fedora: ['Fedora any'],
      'rhel-8': ['RedHat 8', 'Rocky 8', 'AlmaLinux 8'],
      'rhel-9': ['RedHat 9', 'Rocky 9', 'AlmaLinux 9'],
      'ubuntu-14.04': [],
      'ubuntu-20.04': ['Ubuntu 20.04'],
      'ubuntu-22.04': ['Ubuntu 22.04'],
      'ubuntu-24.04': ['Ubuntu 24.04'],
    }
    const listed = await execute(process.execPath, [BIN, 'bootstrap', '--json'], {cwd: os.tmpdir()})
    assert.equal(listed.code, 0, show(listed))
    const templates = (JSON.parse(listed.stdout) as Array<{name: string}>).map((template) => template.name).sort()
    assert.deepEqual(
      templates,
      Object.keys(expected).sort(),
      'a new bootstrap template: add its OS to metadata.json and to this table',
    )
    assert.deepEqual([...supported].sort(), Object.values(expected).flat().sort())
  })

  it('REFERENCE.md is what puppet-strings makes of the code today', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-module-strings-'))
    try {
      const out = path.join(dir, 'REFERENCE.md')
      const sources = ['manifests/**/*.pp', 'functions/**/*.pp', 'types/**/*.pp', 'lib/**/*.rb']
      const result = await execute(
        'puppet',
        ['strings', 'generate', '--format', 'markdown', '--out', out, ...sources],
        {cwd: MODULE},
      )
      assert.equal(result.code, 0, show(result))
      assert.equal(
        readFileSync(out, 'utf8'),
        readFileSync(path.join(MODULE, 'REFERENCE.md'), 'utf8'),
        'regenerate it: see docs/module.md',
      )
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })

  it('passes its rspec-puppet examples (each OS family, modes, service wiring, daemon and timer, refusals)', async () => {
    const result = await execute('rspec', ['--format', 'progress', 'spec/classes'], {cwd: MODULE})
    assert.equal(result.code, 0, show(result))
    const summary = /(\d+) examples?, 0 failures/.exec(result.stdout)
    assert.ok(summary && Number(summary[1]) >= 40, show(result))
    assert.doesNotMatch(result.stdout, /pending/i)
  })

  it('writes exactly the units `pupistry bootstrap` writes, for both schedules', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-module-units-'))
    const world = await World.create()
    try {
      const puppet = new PuppetHome(dir)
      const cases = [
        {name: 'defaults', agent: {}},
        {name: 'tuned', agent: {daemon_frequency: 900, stop_timeout: 45}},
      ]
      const files: string[] = []
      const expected: Record<string, string> = {}
      for (const {name, agent} of cases) {
        const settings = path.join(dir, `${name}.yaml`)
        writeFileSync(settings, dump({...world.settings, agent: {...world.settings.agent, ...agent}}))
        const frequency = 'daemon_frequency' in agent ? agent.daemon_frequency : 'undef'
        const stop = 'stop_timeout' in agent ? agent.stop_timeout : 'undef'
        for (const schedule of ['daemon', 'timer']) {
          const rendered = await world.cliWith(settings, 'bootstrap', '--template', 'debian-13', '--schedule', schedule)
          assert.equal(rendered.code, 0, show(rendered))
          const units = bootstrapUnits(rendered.stdout)
          assert.deepEqual(
            Object.keys(units).sort(),
            schedule === 'daemon' ? ['pupistry.service'] : ['pupistry.service', 'pupistry.timer'],
          )
          for (const [unit, text] of Object.entries(units)) {
            const file = path.join(dir, `${name}-${schedule}-${unit}`)
            expected[file] = text
            files.push(
              `file { '${file}': content => pupistry::units('${schedule}', '/usr/local/bin/pupistry', ` +
                `'/etc/pupistry/settings.yaml', 'human', ${frequency}, ${stop})['${unit}'] }`,
            )
          }
        }
      }

      const result = await puppet.apply(files.join('\n'))
      assert.equal(result.code, 2, show(result))
      assert.equal(Object.keys(expected).length, 6)
      for (const [file, text] of Object.entries(expected)) assert.equal(readFileSync(file, 'utf8'), text, file)
      assert.match(expected[path.join(dir, 'tuned-timer-pupistry.timer')], /^OnUnitActiveSec=900$/m)
      assert.match(expected[path.join(dir, 'tuned-daemon-pupistry.service')], /^TimeoutStopSec=85$/m)
    } finally {
      world.cleanup()
      rmSync(dir, {force: true, recursive: true})
    }
  })

  describe('a real puppet apply into a temporary root', () => {
    let world: World
    let dir: string
    let root: string
    let puppet: PuppetHome
    let publicKey: string
    const settingsFile = () => path.join(root, 'etc', 'pupistry', 'settings.yaml')
    const unitDir = () => path.join(root, 'etc', 'systemd', 'system')

    /** Class parameters, as hiera data: every path inside the root; services left alone (systemd does not run here). */
    function hieraData(overrides: Record<string, unknown> = {}): Record<string, unknown> {
      return {
        'pupistry::app_cache': path.join(root, 'var', 'lib', 'pupistry'),
        // An executable that exists, so that systemd-analyze can check the units' ExecStart.
        'pupistry::bin': BIN,
        'pupistry::config_dir': path.join(root, 'etc', 'pupistry'),
        'pupistry::config_file': settingsFile(),
        'pupistry::environment': 'production',
        'pupistry::extra_settings': {agent: {daemon_splay: 0}},
        'pupistry::interval': 600,
        'pupistry::manage_puppet_agent': false,
        'pupistry::manage_service': false,
        'pupistry::puppetcode': world.puppetcode,
        'pupistry::storage': `file://${world.store}`,
        'pupistry::trusted_keys': {'release.asc': publicKey},
        'pupistry::trusted_keys_dir': path.join(root, 'etc', 'pupistry', 'trusted-keys'),
        'pupistry::unit_dir': unitDir(),
        ...overrides,
      }
    }

    /** `include pupistry` with these parameters looked up in hiera, as a control repo would set them. */
    function applyClass(data: Record<string, unknown>, extra: string[] = []): Promise<CliResult> {
      const dataDir = path.join(dir, 'hieradata')
      mkdirSync(dataDir, {recursive: true})
      writeFileSync(path.join(dataDir, 'node.yaml'), dump(data))
      const hiera = path.join(dir, 'hiera.yaml')
      writeFileSync(
        hiera,
        dump({
          hierarchy: [{name: 'node', path: 'node.yaml'}],
          defaults: {datadir: dataDir, data_hash: 'yaml_data'},
          version: 5,
        }),
      )
      return puppet.apply('include pupistry\n', ['--hiera_config', hiera, ...extra])
    }

    before(async () => {
      assert.equal(process.getuid?.(), 0, 'the module makes root own its files: run this test as root')
      world = await World.create()
      for (const step of [
        ['build', '-e', 'production'],
        ['push', '-e', 'production'],
      ]) {
        const result = await world.cli(...step)
        assert.equal(result.code, 0, show(result))
      }

      publicKey = readFileSync(path.join(world.keys, 'pupistry-signing.public.asc'), 'utf8')
      dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-module-apply-'))
      root = path.join(dir, 'root')
      puppet = new PuppetHome(dir)
      // What any system has before the module runs.
      mkdirSync(unitDir(), {recursive: true})
    })
    after(() => {
      world?.cleanup()
      if (dir) rmSync(dir, {force: true, recursive: true})
    })

    it('noop writes nothing, and its report says changes are pending', async () => {
      const before = listing(root)
      const result = await applyClass(hieraData(), ['--noop'])
      // Puppet's noop exits 0 even with pending changes: the report tells.
      assert.equal(result.code, 0, show(result))
      assert.deepEqual(listing(root), before)
      assert.match(puppet.lastReport(), /^noop_pending: true$/m)
      assert.match(result.stdout, /File\[.*settings\.yaml\]\/ensure: current_value 'absent', should be 'file' \(noop\)/)
    })

    it('the real apply creates everything with the right owner and modes; a second apply changes nothing', async () => {
      const result = await applyClass(hieraData())
      assert.equal(result.code, 2, show(result))
      assert.deepEqual(listing(root), {
        etc: 'dir 0755 uid 0',
        'etc/pupistry': 'dir 0755 uid 0',
        'etc/pupistry/settings.yaml': 'file 0600 uid 0',
        'etc/pupistry/trusted-keys': 'dir 0755 uid 0',
        'etc/pupistry/trusted-keys/release.asc': 'file 0644 uid 0',
        'etc/systemd': 'dir 0755 uid 0',
        'etc/systemd/system': 'dir 0755 uid 0',
        'etc/systemd/system/pupistry.service': 'file 0644 uid 0',
      })
      assert.equal(readFileSync(path.join(root, 'etc/pupistry/trusted-keys/release.asc'), 'utf8'), publicKey)
      assert.deepEqual(load(readFileSync(settingsFile(), 'utf8')), {
        agent: {daemon_frequency: 600, daemon_splay: 0, environment: 'production', puppetcode: world.puppetcode},
        general: {
          app_cache: path.join(root, 'var/lib/pupistry'),
          storage: `file://${world.store}`,
          trusted_keys: [path.join(root, 'etc/pupistry/trusted-keys')],
        },
      })

      const again = await applyClass(hieraData())
      assert.equal(again.code, 0, show(again))
    })

    it('pupistry doctor accepts the settings it wrote: it reads and verifies the live release with the trusted key', async () => {
      const result = await execute(process.execPath, [BIN, 'doctor', '--config', settingsFile()], {cwd: dir})
      assert.equal(result.code, 0, show(result))
      assert.match(result.stdout, /^ok\s+settings\s/m)
      assert.match(result.stdout, /^ok\s+trusted keys\s+1 trusted key file/m)
      assert.match(
        result.stdout,
        /^ok\s+store \(agent\)\s+this user \(\w+\) can read production serial 1 \(signed by Test Signer/m,
      )
    })

    it('credentials stay out of the output; a key removed from the parameters is deleted from the directory', async () => {
      const stray = path.join(root, 'etc/pupistry/trusted-keys/old-rotated-out.asc')
      writeFileSync(stray, publicKey)
      const secret = 'never-in-a-log-0123456789'
      const result = await applyClass(
        hieraData({'pupistry::access_key_id': 'AKIAREADONLY', 'pupistry::secret_access_key': secret}),
      )
      assert.equal(result.code, 2, show(result))
      assert.throws(() => statSync(stray), {code: 'ENOENT'})
      assert.doesNotMatch(result.stdout + result.stderr + puppet.lastReport(), new RegExp(secret))
      const settings = load(readFileSync(settingsFile(), 'utf8')) as {agent: Record<string, unknown>}
      assert.equal(settings.agent.secret_access_key, secret)
      assert.equal(statSync(settingsFile()).mode & 0o777, 0o600)
    })

    it('systemd-analyze accepts the units of both modes without a word; switching to the timer leaves no daemon unit', async () => {
      const verify = async (...units: string[]) => {
        const result = await execute(
          'systemd-analyze',
          ['verify', ...units.map((unit) => path.join(unitDir(), unit))],
          {cwd: unitDir()},
        )
        // A bad value only warns (exit 0): any output on stderr fails.
        assert.equal(result.code, 0, show(result))
        assert.equal(result.stderr, '', show(result))
      }

      await verify('pupistry.service')
      const result = await applyClass(hieraData({'pupistry::log_format': 'json', 'pupistry::run_mode': 'timer'}))
      assert.equal(result.code, 2, show(result))
      assert.deepEqual(readdirSync(unitDir()).sort(), ['pupistry.service', 'pupistry.timer'])
      assert.match(
        readFileSync(path.join(unitDir(), 'pupistry.service'), 'utf8'),
        new RegExp(
          `^Type=oneshot\\nExecStart=${BIN} apply --minimal --config ${settingsFile()} --log-format json\\n$`,
          'm',
        ),
      )
      assert.match(readFileSync(path.join(unitDir(), 'pupistry.timer'), 'utf8'), /^OnUnitActiveSec=600$/m)
      await verify('pupistry.timer', 'pupistry.service')

      const none = await applyClass(hieraData({'pupistry::run_mode': 'none'}))
      assert.equal(none.code, 2, show(none))
      assert.deepEqual(readdirSync(unitDir()), [])
    })

    it('refuses a bad environment name before touching anything', async () => {
      const before = listing(root)
      const result = await applyClass(hieraData({'pupistry::environment': 'feature-x'}))
      assert.equal(result.code, 1, show(result))
      assert.match(result.stderr, /'environment' expects a match for Pupistry::Environment/)
      assert.deepEqual(listing(root), before)
    })
  })
})
