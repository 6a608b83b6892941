import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BIN, type CliResult, execute, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`

/** Runs the CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would; stdout and stderr both land there. */
function onTerminal(world: World, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const command = [process.execPath, BIN, ...args, '--config', world.settingsFile].map(quote).join(' ')
  return execute('script', ['-qfec', command, '/dev/null'], {
    cwd: world.dir,
    env: {FORCE_COLOR: undefined, NO_COLOR: undefined, TERM: 'xterm-256color', ...env},
  })
}

/** The same in a pipe, with the caller's colour settings only. */
function inPipe(world: World, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return execute(process.execPath, [BIN, ...args, '--config', world.settingsFile], {
    cwd: world.dir,
    env: {FORCE_COLOR: undefined, NO_COLOR: undefined, ...env},
  })
}

const ESCAPE = '\u001B['
const meterOf = (what: string) => new RegExp(`\\r${what} production: 100% of \\d+(\\.\\d)? (B|KiB|MiB)`)

describe('terminal output: progress and colour', () => {
  let world: World
  before(async () => {
    world = await World.create({general: {s3_bukket: 'a typo, for a warning'}})
  })
  after(() => world?.cleanup())

  it('shows progress for packing, upload and download on a terminal, also with NO_COLOR (which only drops colour)', async () => {
    const built = await onTerminal(world, ['build', '--environment', 'production'], {NO_COLOR: '1'})
    assert.equal(built.code, 0, show(built))
    assert.match(built.stdout, meterOf('Packing'))
    const pushed = await onTerminal(world, ['push', '--environment', 'production'], {NO_COLOR: '1'})
    assert.equal(pushed.code, 0, show(pushed))
    assert.match(pushed.stdout, meterOf('Uploading'))
    const applied = await onTerminal(world, ['apply', '--environment', 'production'], {NO_COLOR: '1'})
    assert.equal(applied.code, 0, show(applied))
    assert.match(applied.stdout, meterOf('Downloading'))
    assert.match(applied.stdout, /downloading serial 1 \([0-9a-f]+, \d+(\.\d)? (B|KiB|MiB)\)/)
    for (const result of [built, pushed, applied]) assert.ok(!result.stdout.includes(ESCAPE), show(result))
  })

  it('shows no progress in a pipe, nor with --json on a terminal', async () => {
    const change = (text: string) => (dir: string) => writeFileSync(path.join(dir, 'NOTES'), text)
    await world.commitToControl('production', change('one'))
    const quiet: CliResult[] = [
      await inPipe(world, ['build', '--environment', 'production']),
      await inPipe(world, ['push', '--environment', 'production']),
      await inPipe(world, ['apply', '--environment', 'production']),
    ]
    await world.commitToControl('production', change('two'))
    for (const command of ['build', 'push', 'apply']) {
      quiet.push(await onTerminal(world, [command, '--environment', 'production', '--json']))
    }

    for (const result of quiet) {
      assert.equal(result.code, 0, show(result))
      assert.doesNotMatch(result.stdout + result.stderr, /% of |\r(?!\n)/)
    }
  })

  it('colours warnings on a terminal, not with NO_COLOR or TERM=dumb; FORCE_COLOR colours a pipe too', async () => {
    const warning = /warning: .*unknown key "general\.s3_bukket"/
    const coloured = `${ESCAPE}33mwarning:`
    const plain = await onTerminal(world, ['status'], {TERM: 'xterm-256color'})
    assert.ok(plain.stdout.includes(coloured), show(plain))
    for (const env of [{NO_COLOR: '1'}, {TERM: 'dumb'}]) {
      const result = await onTerminal(world, ['status'], env)
      assert.match(result.stdout, warning)
      assert.ok(!result.stdout.includes(ESCAPE), show(result))
    }

    const forced = await inPipe(world, ['status'], {FORCE_COLOR: '1'})
    assert.ok(forced.stderr.includes(coloured), show(forced))
    const forcedOff = await onTerminal(world, ['status'], {FORCE_COLOR: '0'})
    assert.ok(!forcedOff.stdout.includes(ESCAPE), show(forcedOff))
  })

  it('tells Puppet --color false whenever pupistry prints without colour', async () => {
    const apply = ['apply', '--environment', 'production', '--force']
    const coloured = await onTerminal(world, apply)
    assert.equal(coloured.code, 0, show(coloured))
    assert.match(
      coloured.stdout,
      new RegExp(`${ESCAPE.replace('[', '\\[')}[0-9;]*mNotice:`),
      'Puppet colours on a terminal',
    )
    for (const env of [{NO_COLOR: '1'}, {TERM: 'dumb'}]) {
      const result = await onTerminal(world, apply, env)
      assert.equal(result.code, 0, show(result))
      assert.match(result.stdout, /Notice: /)
      assert.ok(!result.stdout.includes(ESCAPE), show(result))
    }
  })
})
