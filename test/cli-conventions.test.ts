import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {ROOT, runCli, show} from './helpers/cli.js'

/** What users of other oclif CLIs expect: suggestions, version, autocomplete, ids as typed. */
describe('oclif conventions', () => {
  const home = mkdtempSync(path.join(tmpdir(), 'pupistry-home-'))
  after(() => rmSync(home, {force: true, recursive: true}))

  for (const [typed, meant] of [
    ['aply', 'apply'],
    ['boostrap', 'bootstrap'],
    ['stauts', 'status'],
  ]) {
    it(`\`${typed}\` suggests \`${meant}\` and runs nothing`, async () => {
      const result = await runCli([typed])
      assert.equal(result.code, 2, show(result))
      assert.match(
        result.stderr,
        new RegExp(
          `^pupistry: error: ${typed} is not a pupistry command\\nhint: did you mean \`pupistry ${meant}\`\\?`,
        ),
      )
      assert.equal(result.stdout, '')
    })
  }

  it('a command in a topic is suggested as typed, with a space', async () => {
    const result = await runCli(['keys', 'genrate'])
    assert.equal(result.code, 2, show(result))
    assert.match(
      result.stderr,
      new RegExp(
        /^pupistry: error: keys genrate is not a pupistry command\nhint: did you mean /.source +
          /`pupistry keys generate`\? \(`pupistry help keys` lists its commands\)/.source,
      ),
    )
    assert.doesNotMatch(result.stderr, /keys:/)
  })

  it('a word far from every command gets no guess, only where to look', async () => {
    const result = await runCli(['frobnicate'])
    assert.equal(result.code, 2, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: frobnicate is not a pupistry command\nhint: `pupistry help` lists every command\n$/,
    )
  })

  it('a stray argument is reported as unexpected, not as an unknown command', async () => {
    const result = await runCli(['status', 'production'])
    assert.equal(result.code, 2, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: unexpected argument production: `pupistry status` takes no arguments\n/,
    )
    assert.match(result.stderr, /hint: did you mean `pupistry status --environment production`\?/)
    assert.doesNotMatch(result.stderr, /status:production|not found/)
  })

  it('a stray argument after a command in a topic names the command with spaces', async () => {
    const result = await runCli(['keys', 'generate', 'extra', '--force'])
    assert.equal(result.code, 2, show(result))
    assert.match(
      result.stderr,
      /^pupistry: error: unexpected argument extra: `pupistry keys generate` takes no arguments\n/,
    )
  })

  it('the global flags work with the commands of other plugins too', async () => {
    for (const argv of [
      ['plugins', '-c', 'x'],
      ['plugins', '--config=x', '-v'],
      ['version', '--config', 'x'],
    ]) {
      const result = await runCli(argv)
      assert.equal(result.code, 0, show(result))
      assert.doesNotMatch(result.stderr, /Nonexistent flag/)
    }
  })

  it("another plugin's command under --json prints its result or a short error, never the CLI configuration", async () => {
    const listed = await runCli(['plugins', '--json', '-c', 'x'])
    assert.equal(listed.code, 0, show(listed))
    assert.ok(Array.isArray(JSON.parse(listed.stdout)), show(listed))
    const failed = await runCli(['plugins', '--json', '-c', 'x', '--bogus'])
    assert.equal(failed.code, 2, show(failed))
    assert.deepEqual(JSON.parse(failed.stdout), {
      error: {exitCode: 2, message: 'Nonexistent flag: --bogus\nSee more help with --help', name: 'UsageError'},
    })
    for (const result of [listed, failed]) assert.doesNotMatch(result.stdout, /"(cacheDir|configDir|dataDir)"/)
  })

  it('`pupistry version` prints the CLI version, like --version', async () => {
    const [command, flag] = await Promise.all([runCli(['version']), runCli(['--version'])])
    assert.equal(command.code, 0, show(command))
    assert.equal(flag.code, 0, show(flag))
    const version = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version as string
    assert.match(command.stdout, new RegExp(`^pupistry/${version.replaceAll('.', '\\.')} `))
    assert.equal(command.stdout, flag.stdout)
    assert.equal(command.stderr, '', 'no engine or deprecation warnings')
  })

  it('push --help says how push --version differs from pupistry version', async () => {
    const result = await runCli(['push', '--help'])
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /--version=<value>\s+publish this earlier build/)
    assert.match(result.stdout.replace(/\s+/g, ' '), /not the CLI's version: that is `pupistry version`/)
  })

  it('`pupistry autocomplete bash` prints setup instructions and writes the completion cache', async () => {
    const cache = path.join(home, 'cache')
    const result = await runCli(['autocomplete', 'bash'], {env: {HOME: home, XDG_CACHE_HOME: cache}})
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /pupistry autocomplete/)
    assert.doesNotMatch(result.stderr, /warn|deprecat|engine/i)
    const script = readFileSync(
      path.join(cache, 'pupistry', 'autocomplete', 'functions', 'bash', 'pupistry.bash'),
      'utf8',
    )
    assert.match(script, /complete .*pupistry/)
    for (const id of ['apply', 'push', 'bootstrap'])
      assert.match(script, new RegExp(`^${id} (--[a-z-]+ )*--config`, 'm'), `${id} completes with its flags`)
  })

  it('help shows no home directory of the machine that built it', async () => {
    const result = await runCli(['setup', '--help'], {env: {HOME: home}})
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /\[default: ~\/\.pupistry\/settings\.yaml\]/)
    const manifest = readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')
    assert.ok(!manifest.includes(process.env.HOME ?? '/root'), 'the manifest carries no home directory')
  })

  it('setup writes to the home directory of whoever runs it', async () => {
    const result = await runCli(['setup'], {env: {HOME: home}})
    assert.equal(result.code, 0, show(result))
    assert.match(readFileSync(path.join(home, '.pupistry', 'settings.yaml'), 'utf8'), /general:/)
  })
})
