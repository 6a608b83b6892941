import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {loadSettings, parseSettings, settingsSearchPath} from '../src/config/settings.js'
import {SettingsError} from '../src/errors.js'
import {runCli, show} from './helpers/cli.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-settings-'))
after(() => rmSync(scratch, {force: true, recursive: true}))

/** The Ruby tool's settings.example.yaml keys, as its users have them. */
const RUBY_SETTINGS = `general:
  app_cache: ~/.pupistry/cache
  s3_bucket: example
  s3_prefix:
  s3_endpoint:
  gpg_disable: false
  gpg_signing_key: XYZ

agent:
  puppetcode: /etc/puppetlabs/code/environments
  access_key_id:
  secret_access_key:
  region: ap-southeast-2
  proxy_uri:
  daemon_frequency: 300
  daemon_minimal: false
  environment: production

build:
  puppetcode: git@example.com:exampleorg/example-puppet.git
  access_key_id:
  secret_access_key:
  region: ap-southeast-2
  proxy_uri:
  hieracrypt: false
`

describe('settings', () => {
  it("accepts every key of the Ruby tool's example, blank values meaning unset", () => {
    const settings = parseSettings(RUBY_SETTINGS, 'ruby.yaml')
    assert.deepEqual(settings.warnings, [])
    assert.deepEqual(settings.unknownKeys, [])
    assert.equal(settings.general.s3_bucket, 'example')
    assert.equal(settings.general.gpg_signing_key, 'XYZ')
    assert.equal(settings.agent.access_key_id, null)
    assert.equal(settings.agent.daemon_frequency, 300)
    assert.equal(settings.build.hieracrypt, false)
  })

  it('keeps a GnuPG key id exactly as written, where YAML would read a number', () => {
    assert.equal(
      parseSettings('general:\n  gpg_signing_key: 0x1234ABCD  # ops key\n', 'k.yaml').general.gpg_signing_key,
      '0x1234ABCD',
    )
    assert.equal(parseSettings('general:\n  gpg_signing_key: 01234567\n', 'k.yaml').general.gpg_signing_key, '01234567')
    assert.equal(
      parseSettings('general: {gpg_signing_key: "0x1234ABCD"}\n', 'k.yaml').general.gpg_signing_key,
      '0x1234ABCD',
    )
  })

  it('warns about unknown sections, and keeps unknown keys (with file and line) for plugins to read', () => {
    const settings = parseSettings('general:\n  storage: /srv\n  s3_bukket: typo\nextra:\n  a: 1\n', 'x.yaml')
    assert.deepEqual(settings.warnings, ['x.yaml:4:1: unknown section "extra" ignored'])
    assert.deepEqual(settings.unknownKeys, [{key: 'general.s3_bukket', location: 'x.yaml:3:3'}])
    assert.equal(settings.general.s3_bukket, 'typo')
  })

  it('stops on a wrong type with file, key path, line and column', () => {
    assert.throws(
      () => parseSettings('general:\n  storage: /srv\nagent:\n  daemon_frequency: often\n', 'x.yaml'),
      (error: Error) =>
        error instanceof SettingsError && error.message === 'x.yaml:4:21: agent.daemon_frequency: expected number',
    )
    assert.throws(
      () => parseSettings('general:\n  trusted_keys: {a: 1}\n', 'y.yaml'),
      /^SettingsError: y\.yaml:2:17: general\.trusted_keys: expected a file or directory, or a list of them$/,
    )
  })

  it('reports every wrong value at once, each with its line and column', () => {
    const text = 'general:\n  gpg_disable: maybe\nagent:\n  daemon_frequency: often\n  keep_releases: 0\n'
    assert.throws(
      () => parseSettings(text, 'x.yaml'),
      (error: Error) =>
        error instanceof SettingsError &&
        error.message ===
          '3 problems in the settings:\n' +
            'x.yaml:2:16: general.gpg_disable: expected boolean\n' +
            'x.yaml:4:21: agent.daemon_frequency: expected number\n' +
            'x.yaml:5:18: agent.keep_releases: expected a number above 0',
    )
  })

  it('stops on YAML syntax errors with file, line and column of the mistake', () => {
    assert.throws(
      () => parseSettings('general:\n  storage: /srv\n bad: x\n', 'z.yaml'),
      /^SettingsError: z\.yaml:3:1: YAML syntax error: /,
    )
    // An unclosed quote or bracket is only noticed at the end of the text: point at where it was opened.
    assert.throws(
      () => parseSettings('general:\n  storage: "/srv\n  signer: x\n\nagent:\n  puppet: p\n', 'q.yaml'),
      /^SettingsError: q\.yaml:2:12: YAML syntax error: Missing closing "quote$/,
    )
    assert.throws(
      () => parseSettings('general:\n  trusted_keys: [a, b\n  storage: /srv\n', 'b.yaml'),
      /^SettingsError: b\.yaml:2:17: YAML syntax error: /,
    )
    assert.throws(
      () => parseSettings('general:\n  storage: /a\n  storage: /b\n', 'd.yaml'),
      /^SettingsError: d\.yaml:3:3: YAML syntax error: Map keys must be unique$/,
    )
  })

  it('reads an empty file (or one of only comments) as nothing set, with a warning instead of an error', () => {
    for (const text of ['', '# nothing here yet\n']) {
      const settings = parseSettings(text, 'e.yaml')
      assert.deepEqual(settings.general, {})
      assert.deepEqual(settings.warnings, ['e.yaml: the settings file is empty; nothing is set'])
    }
  })

  it('supports YAML merge keys, and points at a merged value where it is written', () => {
    const text =
      'agent: &s3\n  region: eu-west-1\n  access_key_id: AKIA\nbuild:\n  <<: *s3\n  puppetcode: /repo\n' +
      'general:\n  <<: {storage: /srv, gpg_disable: maybe}\n'
    assert.throws(
      () => parseSettings(text, 'm.yaml'),
      /^SettingsError: m\.yaml:8:36: general\.gpg_disable: expected boolean$/,
    )
    const settings = parseSettings(text.replace('maybe', 'true'), 'm.yaml')
    assert.deepEqual(settings.unknownKeys, [])
    assert.equal(settings.build.region, 'eu-west-1')
    assert.equal(settings.build.access_key_id, 'AKIA')
    assert.equal(settings.general.storage, '/srv')
  })

  it('is found as --config, ./settings.yaml, ~/.pupistry/settings.yaml, /etc/pupistry/settings.yaml', () => {
    const cwd = path.join(scratch, 'cwd')
    const home = path.join(scratch, 'home')
    mkdirSync(path.join(home, '.pupistry'), {recursive: true})
    mkdirSync(cwd, {recursive: true})
    assert.deepEqual(settingsSearchPath(cwd, home), [
      path.join(cwd, 'settings.yaml'),
      path.join(home, '.pupistry', 'settings.yaml'),
      '/etc/pupistry/settings.yaml',
    ])
    writeFileSync(path.join(home, '.pupistry', 'settings.yaml'), 'general:\n  storage: /home-store\n')
    assert.equal(loadSettings({cwd, home}).general.storage, '/home-store')
    writeFileSync(path.join(cwd, 'settings.yaml'), 'general:\n  storage: /cwd-store\n')
    assert.equal(loadSettings({cwd, home}).general.storage, '/cwd-store')
    const explicit = path.join(scratch, 'explicit.yaml')
    writeFileSync(explicit, 'general:\n  storage: /explicit\n')
    assert.equal(loadSettings({cwd, file: explicit, home}).general.storage, '/explicit')
    assert.throws(
      () => loadSettings({file: path.join(scratch, 'missing.yaml')}),
      /cannot read settings file .*missing\.yaml: ENOENT/,
    )
  })

  it('names a missing required key and the file (CLI)', async () => {
    const file = path.join(scratch, 'empty.yaml')
    writeFileSync(file, 'general:\n  storage: /srv/none\n')
    const result = await runCli(['build', '--config', file])
    assert.equal(result.code, 10, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: build\.puppetcode is not set in .*empty\.yaml: the URL of your Puppet control repo$/m,
    )
  })

  it('refuses build.hieracrypt: true without signing, rather than publish sealed data anyone could forge (CLI)', async () => {
    const file = path.join(scratch, 'hieracrypt.yaml')
    writeFileSync(file, 'general:\n  gpg_disable: true\nbuild:\n  puppetcode: /nowhere\n  hieracrypt: true\n')
    const result = await runCli(['build', '--config', file])
    assert.equal(result.code, 10, show(result))
    assert.match(
      result.stderr,
      /build\.hieracrypt and general\.gpg_disable are both true .*: sealed hiera data must be signed/,
    )
  })

  it('shows YAML errors from the CLI with exit code 10 and no stack trace', async () => {
    const file = path.join(scratch, 'broken.yaml')
    writeFileSync(file, 'general:\n  storage: [\n')
    const result = await runCli(['status', '--config', file])
    assert.equal(result.code, 10, show(result))
    assert.match(result.stderr, /broken\.yaml:2:12: YAML syntax error/)
    assert.doesNotMatch(result.stderr, /\n\s+at /)
  })

  it('setup writes the commented example and refuses to overwrite without --force', async () => {
    const target = path.join(scratch, 'setup', 'settings.yaml')
    const first = await runCli(['setup', '--file', target])
    assert.equal(first.code, 0, show(first))
    const written = readFileSync(target, 'utf8')
    assert.match(written, /^# pupistry settings/)
    assert.deepEqual(parseSettings(written, target).warnings, [], 'the example has only known sections')
    assert.deepEqual(parseSettings(written, target).unknownKeys, [], 'the example has only known keys')
    const second = await runCli(['setup', '--file', target])
    assert.equal(second.code, 2, show(second))
    assert.match(second.stderr, /already exists; use --force/)
    assert.equal((await runCli(['setup', '--file', target, '--force'])).code, 0)
  })

  it('setup writes to ~/.pupistry/settings.yaml by default', async () => {
    const home = path.join(scratch, 'fresh-home')
    mkdirSync(home)
    const result = await runCli(['setup'], {env: {HOME: home}})
    assert.equal(result.code, 0, show(result))
    assert.match(readFileSync(path.join(home, '.pupistry', 'settings.yaml'), 'utf8'), /general:/)
  })
})
