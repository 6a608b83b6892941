import assert from 'node:assert/strict'
import {chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {readKey} from 'openpgp'
import {stringify} from 'yaml'

import {BIN, type CliResult, execute, run, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

const NOBODY = 65534

/**
 * pupistry run by an unprivileged user (uid 65534, through setpriv) on paths
 * root made: every permission problem names the path and the setting or flag
 * it comes from, says how to fix it, and exits 10, never "internal error".
 * Switching to that uid needs root, as the test suite runs here.
 */
describe('permission problems name the path and its setting (run as an unprivileged user)', () => {
  let world: World
  let home: string
  let locked: string

  const asNobody = (...args: string[]): Promise<CliResult> =>
    execute('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, BIN, ...args], {
      cwd: home,
      env: {HOME: home, NO_COLOR: '1', XDG_DATA_HOME: path.join(home, '.local', 'share')},
    })

  const assertPermissionError = (result: CliResult, what: RegExp, source: string) => {
    assert.equal(result.code, 10, show(result))
    assert.doesNotMatch(result.stderr, /internal error|report it/)
    assert.match(result.stderr, new RegExp(`pupistry: error: permission denied: user nobody may not ${what.source}`))
    assert.match(result.stderr, new RegExp(`which comes from ${source.replace('.', '\\.')}\\n`))
    assert.match(result.stderr, new RegExp(`hint: run as a user who may write .*, or (set|give) ${source}`))
  }

  before(async () => {
    world = await World.create()
    // The world is root's: others may read it (settings, keys, store) but write nowhere in it.
    chmodSync(world.dir, 0o755)
    chmodSync(world.keys, 0o755)
    home = path.join(world.dir, 'nobody-home')
    mkdirSync(home)
    chownSync(home, NOBODY, NOBODY)
    locked = path.join(world.dir, 'locked')
    mkdirSync(locked, {mode: 0o755})
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    const pushed = await world.cli('push')
    assert.equal(pushed.code, 0, show(pushed))
    chmodSync(path.join(world.dir, 'cache'), 0o755)
  })
  after(() => world.cleanup())

  it('apply: the agent state directory under general.app_cache', async () => {
    const result = await asNobody('apply', '--config', world.settingsFile)
    assertPermissionError(result, /mkdir .*\/cache\/agent/, 'general.app_cache')
  })

  it('build: the assembler cache under general.app_cache', async () => {
    const result = await asNobody('build', '--config', world.settingsFile)
    assertPermissionError(result, /(mkdir|open) .*\/cache\/providers\//, 'general.app_cache')
  })

  it('keys generate --dir', async () => {
    const dir = path.join(locked, 'keys')
    const result = await asNobody('keys', 'generate', '--dir', dir, '--config', world.settingsFile)
    assertPermissionError(result, new RegExp(`mkdir ${dir}`), '--dir')
  })

  it('setup --file', async () => {
    const file = path.join(locked, 'settings.yaml')
    const result = await asNobody('setup', '--file', file)
    assertPermissionError(result, /copyfile .*settings\.yaml/, '--file')
  })

  it('--json carries the same error with its name and exit code', async () => {
    const result = await asNobody('apply', '--json', '--config', world.settingsFile)
    assert.equal(result.code, 10, show(result))
    const {error} = JSON.parse(result.stdout) as {error: {name: string; exitCode: number; message: string}}
    assert.equal(error.name, 'PermissionDeniedError')
    assert.match(error.message, /general\.app_cache/)
  })
})

/** A uid the password database does not list, as a container run with `-u 64199` has. */
const UNLISTED = 64199

/**
 * Node's and oclif's lookups of the user's home and shell throw for such a
 * user when HOME or SHELL is unset; pupistry runs all the same, and names the
 * user by uid where it would name it.
 */
describe('a user the password database does not list, with no HOME or SHELL set', () => {
  let world: World
  let own: string

  /** Runs with only PATH in the environment, as `env -i` would. */
  const asUnlisted = (...args: string[]): Promise<CliResult> =>
    execute(
      'env',
      [
        '-i',
        `PATH=${process.env.PATH}`,
        'NO_COLOR=1',
        'setpriv',
        `--reuid=${UNLISTED}`,
        `--regid=${UNLISTED}`,
        '--clear-groups',
        process.execPath,
        BIN,
        ...args,
      ],
      {cwd: '/'},
    )

  before(async () => {
    world = await World.create()
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
    assert.equal((await world.cli('push')).code, 0)
    for (const dir of [world.dir, world.keys]) chmodSync(dir, 0o755)
    await run('chmod', ['-R', 'o+rX', world.store])
    own = path.join(world.dir, 'unlisted')
    mkdirSync(own)
    chownSync(own, UNLISTED, UNLISTED)
  })
  after(() => world.cleanup())

  it('help and key generation work; the key names the user by uid', async () => {
    const help = await asUnlisted('--help')
    assert.equal(help.code, 0, show(help))
    const keys = await asUnlisted('keys', 'generate', '--dir', path.join(own, 'keys'))
    assert.equal(keys.code, 0, show(keys))
    const armored = readFileSync(path.join(own, 'keys', 'pupistry-signing.public.asc'), 'utf8')
    const key = await readKey({armoredKey: armored})
    assert.match(key.getUserIDs()[0] ?? '', /^pupistry signing key <uid-64199@/)
  })

  it('apply installs the release, and a permission problem names the user by uid', async () => {
    const settings = path.join(own, 'settings.yaml')
    const write = (appCache: string) =>
      writeFileSync(
        settings,
        stringify({
          agent: {puppet: '/bin/true', puppetcode: path.join(own, 'code')},
          general: {...world.settings.general, app_cache: appCache},
        }),
      )
    write(path.join(own, 'cache'))
    const applied = await asUnlisted('apply', '--config', settings)
    assert.equal(applied.code, 0, show(applied))
    assert.match(readFileSync(path.join(own, 'code', 'production', 'manifests', 'site.pp'), 'utf8'), /./)
    write(path.join(world.dir, 'cache'))
    const denied = await asUnlisted('apply', '--config', settings)
    assert.equal(denied.code, 10, show(denied))
    assert.match(denied.stderr, /permission denied: user uid-64199 may not /)
  })
})
