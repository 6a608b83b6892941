import {mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {stringify} from 'yaml'

import {type CliResult, ROOT, run, runCli} from './cli.js'

export interface WorldOptions {
  /** Extra settings, merged into each section. */
  general?: Record<string, unknown>
  agent?: Record<string, unknown>
  build?: Record<string, unknown>
  /** Skip generating a signing key (settings then have no key). */
  noKeys?: boolean
}

/**
 * A throwaway fleet of one: generated control and module repos, a file
 * store, a build cache, a node's Puppet code directory, keys and settings.
 */
export class World {
  readonly dir: string
  readonly repos: string
  readonly target: string
  readonly store: string
  readonly puppetcode: string
  readonly keys: string
  readonly settingsFile: string
  settings: {general: Record<string, unknown>; agent: Record<string, unknown>; build: Record<string, unknown>}
  /** Extra environment for every CLI run of this world (an isolated plugin home, a registry). */
  env: NodeJS.ProcessEnv = {}

  private constructor(dir: string) {
    this.dir = dir
    this.repos = path.join(dir, 'repos')
    this.target = path.join(dir, 'target')
    this.store = path.join(dir, 'store')
    this.puppetcode = path.join(dir, 'code', 'environments')
    this.keys = path.join(dir, 'keys')
    this.settingsFile = path.join(dir, 'settings.yaml')
    this.settings = {agent: {}, build: {}, general: {}}
  }

  static async create(options: WorldOptions = {}): Promise<World> {
    const world = new World(mkdtempSync(path.join(os.tmpdir(), 'pupistry-test-')))
    mkdirSync(world.store, {recursive: true})
    await run('bash', [path.join(ROOT, 'test/fixtures/make-control-repo.sh'), world.repos, world.target])
    world.settings = {
      agent: {puppetcode: world.puppetcode, ...options.agent},
      build: {puppetcode: `file://${world.repos}/control.git`, ...options.build},
      general: {
        app_cache: path.join(world.dir, 'cache'),
        storage: `file://${world.store}`,
        ...(options.noKeys
          ? {}
          : {
              signing_key_file: path.join(world.keys, 'pupistry-signing.secret.asc'),
              trusted_keys: path.join(world.keys, 'pupistry-signing.public.asc'),
            }),
        ...options.general,
      },
    }
    world.writeSettings()
    if (!options.noKeys) {
      const result = await runCli([
        'keys',
        'generate',
        '--dir',
        world.keys,
        '--user-id',
        'Test Signer <signer@example.invalid>',
        '-c',
        world.settingsFile,
      ])
      if (result.code !== 0) throw new Error(`keys generate failed: ${result.stderr}`)
    }

    return world
  }

  writeSettings(): void {
    writeFileSync(this.settingsFile, stringify(this.settings))
  }

  /** Runs pupistry with this world's settings. */
  cli(...args: string[]): Promise<CliResult> {
    return runCli([...args, '--config', this.settingsFile], {cwd: this.dir, env: this.env})
  }

  /** Runs a command that takes no settings (`plugins ...`), in this world's environment. */
  cliWithoutSettings(...args: string[]): Promise<CliResult> {
    return runCli(args, {cwd: this.dir, env: this.env})
  }

  /** Runs pupistry with other settings (another machine's view of the same store). */
  cliWith(settingsFile: string, ...args: string[]): Promise<CliResult> {
    return runCli([...args, '--config', settingsFile], {cwd: this.dir, env: this.env})
  }

  /** The release the environment link points at (its version directory name). */
  activeVersion(environment = 'production'): string | undefined {
    try {
      return path.basename(readlinkSync(path.join(this.puppetcode, environment)))
    } catch {
      return undefined
    }
  }

  targetFile(name: string): string {
    return readFileSync(path.join(this.target, name), 'utf8')
  }

  storePath(...parts: string[]): string {
    return path.join(this.store, 'pupistry', ...parts)
  }

  /** Runs `work` while the store's pointer names an older signed manifest (a replay, or a confused mirror), then puts the newest back. */
  async withReplayedManifest<T>(serial: number, work: () => Promise<T>, environment = 'production'): Promise<T> {
    const pointer = this.storePath(environment, 'latest.json')
    const newest = readFileSync(pointer)
    writeFileSync(
      pointer,
      readFileSync(this.storePath(environment, 'manifests', `${String(serial).padStart(12, '0')}.json`)),
    )
    try {
      return await work()
    } finally {
      writeFileSync(pointer, newest)
    }
  }

  /** Commits a change to a branch of the control repo, as an operator's git push would. */
  async commitToControl(branch: string, edit: (dir: string) => void, message = 'change'): Promise<void> {
    const work = mkdtempSync(path.join(this.dir, 'work-'))
    const env = {
      GIT_AUTHOR_EMAIL: 't@example.invalid',
      GIT_AUTHOR_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.invalid',
      GIT_COMMITTER_NAME: 't',
    }
    await run('git', ['clone', '-q', '--branch', branch, path.join(this.repos, 'control.git'), work])
    edit(work)
    await run('git', ['-C', work, 'add', '-A'], {env})
    await run('git', ['-C', work, 'commit', '-qm', message], {env})
    await run('git', ['-C', work, 'push', '-q', 'origin', branch], {env})
    rmSync(work, {force: true, recursive: true})
  }

  cleanup(): void {
    rmSync(this.dir, {force: true, recursive: true})
  }
}
