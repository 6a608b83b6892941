import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT, runCli, show, type CliResult} from './helpers/cli.js'
import {World} from './helpers/world.js'

interface FailureJson {
  error: {name: string; message: string; exitCode: number; hint?: string; details?: unknown}
}

/** stdout must be exactly one JSON object describing the failure, with the process's own exit code. */
function failureOf(result: CliResult): FailureJson['error'] {
  assert.notEqual(result.code, 0, show(result))
  let parsed: unknown
  assert.doesNotThrow(() => (parsed = JSON.parse(result.stdout)), `stdout is not one JSON document\n${show(result)}`)
  assert.ok(parsed && typeof parsed === 'object' && !Array.isArray(parsed), show(result))
  assert.deepEqual(Object.keys(parsed), ['error'], show(result))
  const {error} = parsed as FailureJson
  assert.equal(typeof error.name, 'string')
  assert.ok(error.message.length > 0, show(result))
  assert.equal(error.exitCode, result.code, show(result))
  return error
}

/** The core's commands that offer --json, read from the manifest the build writes. */
function jsonCommands(): string[] {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
    commands: Record<string, {enableJsonFlag?: boolean; flags: Record<string, unknown>}>
  }
  const withFlag = Object.entries(manifest.commands).filter(([, command]) => 'json' in command.flags)
  for (const [id, command] of withFlag)
    assert.equal(command.enableJsonFlag, true, `${id} has a --json flag of its own instead of oclif's`)
  return withFlag.map(([id]) => id.replaceAll(':', ' ')).sort()
}

describe('--json on a failure: one JSON error object on stdout, the documented exit code', () => {
  let world: World
  before(async () => {
    world = await World.create()
  })
  after(() => world?.cleanup())

  it('every command with --json, when its settings file cannot be read', async () => {
    const commands = jsonCommands()
    const expected = [
      'apply',
      'bootstrap',
      'build',
      'ci init',
      'diff',
      'doctor',
      'fleet',
      'hieracrypt exposure',
      'hieracrypt plan',
      'node init',
      'node rotate',
      'packer',
      'promote',
      'providers',
      'prune',
      'push',
      'rollback',
      'sign',
      'status',
      'validate',
    ]
    assert.deepEqual(commands, expected)
    const missing = path.join(world.dir, 'missing.yaml')
    // Commands with a required argument get one, so that the settings are what fails.
    const args: Record<string, string[]> = {'hieracrypt exposure': ['a.example']}
    for (const command of commands) {
      const words = [...command.split(' '), ...(args[command] ?? [])]
      const json = await runCli([...words, '--json', '--config', missing])
      const error = failureOf(json)
      assert.equal(error.name, 'SettingsError', show(json))
      assert.equal(error.exitCode, 10)
      assert.match(error.message, /missing\.yaml/)
      const plain = await runCli([...words, '--config', missing])
      assert.equal(plain.code, json.code, `${command}: the same exit code without --json\n${show(plain)}`)
      assert.equal(plain.stdout, '', show(plain))
      assert.match(json.stderr, /pupistry: error: .*missing\.yaml/, 'people still read the error on stderr')
    }
  })

  it('failures of the work itself, each with its own kind and code', async () => {
    const cases: Array<{args: string[]; name: string; code: number}> = [
      {args: ['push', '--json'], code: 15, name: 'NotFoundError'},
      {args: ['diff', '--json'], code: 15, name: 'NotFoundError'},
      {args: ['apply', '--json'], code: 15, name: 'NotFoundError'},
      {args: ['rollback', '--json'], code: 15, name: 'NotFoundError'},
      {args: ['build', '--json', '-e', 'no/such'], code: 2, name: 'UsageError'},
      {args: ['bootstrap', '--json', '--template', 'no-such-template'], code: 2, name: 'UsageError'},
      {args: ['packer', '--json', '--template', 'no-such-template'], code: 2, name: 'UsageError'},
      {args: ['status', '--json', '--check'], code: 40, name: 'UnhealthyError'},
    ]
    for (const {args, code, name} of cases) {
      const result = await world.cli(...args)
      const error = failureOf(result)
      assert.equal(result.code, code, show(result))
      assert.equal(error.name, name, show(result))
    }
  })

  it('a bad flag value (oclif parses it) is a usage error, also under --json', async () => {
    for (const args of [
      ['prune', '--grace', 'soon'],
      ['status', '--check', '--max-age', 'soon'],
      ['prune', '--keep', 'many'],
    ]) {
      const error = failureOf(await world.cli(...args, '--json'))
      assert.equal(error.name, 'UsageError')
      assert.equal(error.exitCode, 2)
      assert.equal((await world.cli(...args)).code, 2)
    }
  })

  it('the hint comes along, and structured details where the error has them', async () => {
    const daemon = failureOf(await world.cli('apply', '--daemon', '--json'))
    assert.equal(daemon.exitCode, 2)
    assert.match(daemon.hint ?? '', /--log-format json/)

    const neither = path.join(world.dir, 'neither.yaml')
    writeFileSync(neither, 'general:\n  storage: /tmp\n')
    const doctor = await world.cliWith(neither, 'doctor', '--json')
    const error = failureOf(doctor)
    assert.equal(error.name, 'ChecksFailedError')
    assert.equal(error.exitCode, 10, 'the first failed check decides the code')
    const report = error.details as {checks: Array<{name: string; status: string}>; ok: boolean}
    assert.equal(report.ok, false)
    assert.equal(report.checks.find((check) => check.name === 'role')?.status, 'fail')
  })
  it('with --log-format json the error is the last JSON log line, and every line on the log stream is JSON', async () => {
    // A single apply logs to stderr (a daemon logs to stdout); nothing has been published, so it fails.
    const result = await world.cli('apply', '--log-format', 'json')
    assert.equal(result.code, 15, show(result))
    assert.equal(result.stdout, '', show(result))
    const lines = result.stderr.trimEnd().split('\n')
    const entries = lines.map((line) => {
      assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}\n${show(result)}`)
      return JSON.parse(line) as Record<string, unknown>
    })
    const last = entries.at(-1)!
    assert.equal(last.event, 'error', show(result))
    assert.equal(last.level, 'error')
    assert.equal(last.exitCode, 15)
    assert.equal(last.name, 'NotFoundError')
    assert.equal(typeof last.message, 'string')
    assert.equal(typeof last.time, 'string')

    // --json keeps its one object on stdout; the log stream stays JSON.
    const both = await world.cli('apply', '--log-format', 'json', '--json')
    assert.equal(failureOf(both).name, 'NotFoundError')
    for (const line of both.stderr.trimEnd().split('\n')) assert.doesNotThrow(() => JSON.parse(line), show(both))
  })
})
