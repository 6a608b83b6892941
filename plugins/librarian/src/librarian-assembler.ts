import {spawn} from 'node:child_process'
import {access, mkdir, readdir, readFile, rm} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'

import type {AssembledEnvironment, AssembleOptions, Assembler, FailedEnvironment, ProviderContext} from 'pupistry'

import {lockedModules} from './puppetfile-lock.js'

type FailureKind = 'assembler' | 'settings' | 'tool'

/** An error the core turns into its typed error (and exit code) by `kind`. */
class AssemblyFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    options?: {cause?: unknown},
  ) {
    super(message, options)
  }
}

/** One branch could not be assembled; the others still are. */
class BranchFailure extends Error {
  constructor(
    message: string,
    readonly puppetfileLine?: number,
  ) {
    super(message)
  }
}

const INSTALL_HINTS: Record<string, string> = {
  git: 'Debian/Ubuntu: apt-get install git',
  'librarian-puppet': 'Debian/Ubuntu: apt-get install librarian-puppet; elsewhere: gem install librarian-puppet',
}

/**
 * r10k's rule: every byte of the branch name that is not an ASCII word
 * character becomes an underscore (r10k reads names as bytes, so `café` is `caf__`).
 */
export function environmentOf(branch: string): string {
  return Buffer.from(branch, 'utf8')
    .toString('latin1')
    .replace(/[^A-Za-z0-9_]/g, '_')
}

/** The control repo URL for messages, with any password or token hidden. */
function shown(remote: string): string {
  return remote.replace(
    /^(\w[\w+.-]*:\/\/)([^/@]*)@/,
    (_all, scheme: string, userinfo: string) =>
      `${scheme}${userinfo.includes(':') ? `${userinfo.split(':')[0]}:***` : '***'}@`,
  )
}

interface Outcome {
  code: number | null
  stdout: string
  /** Lines the tool printed that are not its own `[Librarian]` log. */
  said: string[]
}

/**
 * Assembles each branch of the control repo the librarian-puppet way: a
 * plain checkout of the branch with the Puppetfile's modules installed into
 * its `modules/` directory, which is the tree r10k makes too. Everything
 * lives below the provider's cache: a mirror of the control repo, one
 * checkout per environment and librarian's own module cache.
 */
export class LibrarianAssembler implements Assembler {
  private readonly mirror: string
  private readonly environmentsDir: string
  private readonly librarianTmp: string
  private signal?: AbortSignal

  constructor(private readonly context: ProviderContext) {
    this.mirror = path.join(context.cacheDir, 'control.git')
    this.environmentsDir = path.join(context.cacheDir, 'environments')
    this.librarianTmp = path.join(context.cacheDir, 'librarian-tmp')
  }

  async assemble(options: AssembleOptions): Promise<Array<AssembledEnvironment | FailedEnvironment>> {
    const remote = this.context.settings.build.puppetcode
    if (typeof remote !== 'string' || remote === '') {
      throw new AssemblyFailure('settings', 'build.puppetcode is not set: the URL of your Puppet control repo')
    }

    this.signal = options.signal
    await mkdir(this.environmentsDir, {recursive: true})
    await this.updateMirror(remote)
    const branches = await this.branches()
    const chosen = choose(branches, options.environments, remote)
    const environments: Array<AssembledEnvironment | FailedEnvironment> = []
    for (const [branch, commit] of chosen) {
      try {
        this.signal?.throwIfAborted()
        environments.push(await this.assembleBranch(branch, commit))
      } catch (error) {
        if (!(error instanceof BranchFailure)) throw error
        const {message, puppetfileLine} = error
        environments.push({branch, error: message, name: environmentOf(branch), puppetfileLine})
      }
    }

    if (!options.environments) await this.removeGone(new Set(environments.map((environment) => environment.name)))
    return environments
  }

  async versions(): Promise<Record<string, string>> {
    const {stdout} = await this.tool('librarian-puppet', ['version'], {})
    return {'librarian-puppet': stdout.trim().replace(/^librarian-puppet\s+v?/, '')}
  }

  private async updateMirror(remote: string): Promise<void> {
    await mkdir(this.context.cacheDir, {recursive: true})
    const exists = await access(path.join(this.mirror, 'HEAD')).then(
      () => true,
      () => false,
    )
    const args = exists
      ? ['--git-dir', this.mirror, 'fetch', '--quiet', '--prune', remote, '+refs/heads/*:refs/heads/*']
      : ['clone', '--quiet', '--mirror', remote, this.mirror]
    const outcome = await this.tool('git', args, {cwd: this.context.cacheDir})
    if (outcome.code !== 0) {
      throw new AssemblyFailure(
        'assembler',
        `cannot fetch the control repo ${shown(remote)}: ${firstWords(outcome.said)}`,
      )
    }
  }

  /** Branch name → commit, from the mirror. */
  private async branches(): Promise<Map<string, string>> {
    const outcome = await this.tool(
      'git',
      ['--git-dir', this.mirror, 'for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads'],
      {
        cwd: this.context.cacheDir,
      },
    )
    const found = new Map<string, string>()
    for (const line of outcome.stdout.split('\n')) {
      const [branch, commit] = line.split(' ')
      if (branch && commit) found.set(branch, commit)
    }

    return found
  }

  private async assembleBranch(branch: string, commit: string): Promise<AssembledEnvironment> {
    const name = environmentOf(branch)
    const dir = path.join(this.environmentsDir, name)
    await rm(dir, {force: true, recursive: true})
    const checkout = await this.tool(
      'git',
      ['clone', '--quiet', '--no-tags', '--branch', branch, '--single-branch', this.mirror, dir],
      {
        cwd: this.environmentsDir,
      },
    )
    if (checkout.code !== 0) throw new BranchFailure(`cannot check out branch ${branch}: ${firstWords(checkout.said)}`)

    const puppetfile = path.join(dir, 'Puppetfile')
    const hasPuppetfile = await access(puppetfile).then(
      () => true,
      () => false,
    )
    // Like r10k, a branch without a Puppetfile is an environment without extra modules.
    if (!hasPuppetfile) return {commit, modules: {}, name, path: dir}

    const lockFile = path.join(dir, 'Puppetfile.lock')
    const lockCommitted = await access(lockFile).then(
      () => true,
      () => false,
    )
    this.context.log.progress(`librarian-puppet: installing the Puppetfile of ${branch}`)
    const install = await this.tool('librarian-puppet', ['install', '--verbose', '--path', 'modules'], {
      cwd: dir,
      env: {LIBRARIAN_PUPPET_TMP: this.librarianTmp},
      onLine: (line) => this.context.log.progress(`librarian-puppet: ${line.replace(/^\[Librarian\]\s*/, '')}`),
    })
    if (install.code !== 0) {
      const why = reason(install.said, dir)
      const line = /\bPuppetfile:(\d+):/.exec(why)?.[1]
      throw new BranchFailure(
        `librarian-puppet could not install the Puppetfile of branch ${branch}: ${why} ` +
          "(--verbose shows librarian-puppet's output)",
        line === undefined ? undefined : Number(line),
      )
    }

    const modules = lockedModules(await readFile(lockFile, 'utf8'))
    // librarian's bookkeeping is not part of the environment; a lock the branch itself carries is.
    await rm(path.join(dir, '.librarian'), {force: true, recursive: true})
    if (!lockCommitted) await rm(lockFile, {force: true})
    return {commit, modules, name, path: dir}
  }

  private async removeGone(kept: Set<string>): Promise<void> {
    for (const entry of await readdir(this.environmentsDir)) {
      if (!kept.has(entry)) await rm(path.join(this.environmentsDir, entry), {force: true, recursive: true})
    }
  }

  /** Runs a program with an argument array; a missing program is a `tool` failure with an install hint. */
  private tool(
    program: string,
    args: string[],
    options: {cwd?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void},
  ): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, {
        cwd: options.cwd,
        signal: this.signal,
        env: {...process.env, GIT_TERMINAL_PROMPT: '0', LANG: 'C.UTF-8', ...options.env},
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      const said: string[] = []
      const listen = (line: string) => {
        if (line.startsWith('[Librarian]')) options.onLine?.(line)
        else if (line.trim()) said.push(line)
      }

      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
      createInterface({input: child.stdout}).on('line', listen)
      createInterface({input: child.stderr}).on('line', listen)
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') return reject(error)
        reject(
          new AssemblyFailure('tool', `${program} is not installed or not on PATH (${INSTALL_HINTS[program]})`, {
            cause: error,
          }),
        )
      })
      child.on('close', (code) => resolve({code, said, stdout}))
    })
  }
}

/** The branches to assemble: all of them, or those whose environment (or branch) name was asked for. */
function choose(branches: Map<string, string>, wanted: string[] | undefined, remote: string): Array<[string, string]> {
  const all = [...branches].sort(([a], [b]) => a.localeCompare(b))
  if (!wanted) {
    if (all.length === 0) throw new AssemblyFailure('assembler', `the control repo ${shown(remote)} has no branches`)
    return all
  }

  return wanted.map((name) => {
    const match = all.find(([branch]) => branch === name) ?? all.find(([branch]) => environmentOf(branch) === name)
    if (!match)
      throw new AssemblyFailure(
        'assembler',
        `the control repo ${shown(remote)} has no branch for environment "${name}"`,
      )
    return match
  })
}

function firstWords(said: string[]): string {
  return said.slice(0, 2).join(' ') || 'no reason given'
}

/**
 * The useful part of what librarian-puppet printed: its own message, or the
 * message of the Ruby exception without the backtrace, with the checkout's
 * path made relative so the Puppetfile line is easy to find.
 */
export function reason(said: string[], checkout: string): string {
  const lines = said
    .filter((line) => !/^\s+from /.test(line) && !/^\s*\^?\s*$/.test(line))
    .map((line) =>
      line
        .trim()
        .replace(/^\S+:\d+:in `[^']*': /, '')
        .split(`${checkout}/`)
        .join(''),
    )
  return [...new Set(lines)].slice(0, 2).join(' ') || 'no reason given'
}
