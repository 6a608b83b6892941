import {spawn} from 'node:child_process'
import {mkdir, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'

import type {AssembledEnvironment, AssembleOptions, Assembler, FailedEnvironment, ProviderContext} from 'pupistry'

const DEPLOY_RECORD = '.r10k-deploy.json'

function failure(kind: 'assembler' | 'settings' | 'tool', message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, {cause}), {kind})
}

/**
 * r10k's rule: every byte of the branch name that is not an ASCII word
 * character becomes an underscore (r10k reads names as bytes, so `café` is `caf__`).
 */
export function environmentName(branch: string): string {
  return Buffer.from(branch, 'utf8')
    .toString('latin1')
    .replace(/[^A-Za-z0-9_]/g, '_')
}

interface DeployRecord {
  signature?: string
  module_deploys?: Array<{name?: string; version?: string; sha?: string}>
}

/**
 * Runs r10k with a configuration of its own in the cache: one source (the
 * control repo of build.puppetcode) deployed below the cache, so nothing of
 * the user's r10k setup or Puppet's code directory is touched.
 */
export class R10kAssembler implements Assembler {
  private readonly basedir: string
  private readonly configFile: string

  constructor(private readonly context: ProviderContext) {
    this.basedir = path.join(context.cacheDir, 'environments')
    this.configFile = path.join(context.cacheDir, 'r10k.yaml')
  }

  async assemble(options: AssembleOptions): Promise<Array<AssembledEnvironment | FailedEnvironment>> {
    const remote = this.context.settings.build.puppetcode
    if (typeof remote !== 'string' || !remote)
      throw failure('settings', 'build.puppetcode is not set: the URL of your Puppet control repo')
    await mkdir(this.context.cacheDir, {recursive: true})
    await writeFile(this.configFile, r10kConfig(remote, path.join(this.context.cacheDir, 'git-cache'), this.basedir), {
      mode: 0o600,
    })

    const wanted = options.environments ?? []
    // r10k leaves the record of an earlier deploy in place when this one fails: only a record written now counts.
    const before = wanted.length > 0 ? wanted.map(environmentName) : await listDirs(this.basedir)
    await Promise.all(before.map((name) => rm(path.join(this.basedir, name, DEPLOY_RECORD), {force: true})))
    const deploy = await this.run(
      ['deploy', 'environment', ...wanted, '--modules', '--config', this.configFile, '--verbose', 'info'],
      remote,
      options.signal,
    )

    const names =
      wanted.length > 0
        ? wanted.map(environmentName)
        : [...new Set([...(await listDirs(this.basedir)), ...deploy.failures.keys()])]
    const environments: Array<AssembledEnvironment | FailedEnvironment> = []
    for (const name of names.sort()) {
      const dir = path.join(this.basedir, name)
      const branch = deploy.branches.get(name) ?? name
      const failed = deploy.failures.get(name)
      if (failed) {
        const error = `r10k could not deploy branch ${branch}: ${failed.describe()}`
        environments.push({branch, error, name, puppetfileLine: failed.line})
        continue
      }

      const record = await readDeployRecord(dir)
      if (record) environments.push({commit: record.signature, modules: modulesOf(record), name, path: dir})
      else if (await isDir(dir))
        environments.push({branch, error: `r10k did not finish deploying branch ${branch}`, name})
      else
        throw failure(
          'assembler',
          `r10k deployed no environment "${name}" from ${redact(remote)}: is there a branch of that name?`,
        )
    }

    if (environments.length === 0) throw failure('assembler', `r10k found no branches in ${redact(remote)}`)
    return environments
  }

  async versions(): Promise<Record<string, string>> {
    const output = await this.capture(['version'])
    return {r10k: output.trim().replace(/^r10k\s+/, '')}
  }

  private capture(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('r10k', args, {stdio: ['ignore', 'pipe', 'ignore']})
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')))
      child.on('error', (error) => reject(missingTool(error)))
      child.on('close', () => resolve(out))
    })
  }

  /**
   * Runs r10k, passing its log lines on as progress. Errors that come while
   * r10k deploys an environment belong to that environment (r10k goes on
   * with the next one); an error before any environment, or a failure with
   * no error said, concerns them all and is thrown.
   */
  private run(args: string[], remote: string, signal?: AbortSignal): Promise<DeployOutcome> {
    return new Promise((resolve, reject) => {
      const child = spawn('r10k', args, {
        env: {...process.env, LANG: 'C.UTF-8'},
        signal,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const general = new Trouble()
      const failures = new Map<string, Trouble>()
      const branches = new Map<string, string>()
      let current: string | undefined
      const warned = new Set<string>()
      const onLine = (line: string) => {
        const text = line.replace(/\t/g, ' ').trim()
        if (!text) return
        const deploying = /^INFO\s*->\s*Deploying environment (.+)$/.exec(text)?.[1]
        if (deploying) current = path.basename(deploying)
        const renamed = /^WARN\s*->\s*Environment "(.+)" contained non-word characters, correcting name to (\w+)$/.exec(
          text,
        )
        if (renamed) branches.set(renamed[2], renamed[1])
        const trouble = current === undefined ? general : (failures.get(current) ?? new Trouble())
        if (trouble.take(text) && current !== undefined) failures.set(current, trouble)
        if (/^WARN\b/.test(text)) {
          // r10k repeats some warnings once per pass; say each once.
          const warning = text.replace(/^WARN\s*->\s*/, '')
          if (!warned.has(warning)) this.context.log.warn(`r10k: ${warning}`)
          warned.add(warning)
        } else this.context.log.progress(`r10k: ${text.replace(/^\w+\s*->\s*/, '')}`)
      }

      createInterface({input: child.stdout}).on('line', onLine)
      createInterface({input: child.stderr}).on('line', onLine)
      child.on('error', (error) => reject(missingTool(error)))
      child.on('close', (code) => {
        if (general.said || (code !== 0 && failures.size === 0)) {
          const reason = general.said ? `: ${general.describe()}` : ` with exit code ${code}`
          reject(
            failure(
              'assembler',
              `r10k deploy of ${redact(remote)} failed${redactAll(reason)} (--verbose shows r10k's output)`,
            ),
          )
        } else resolve({branches, failures})
      })
    })
  }
}

interface DeployOutcome {
  /** Environment name → branch, for the branches r10k renamed. */
  branches: Map<string, string>
  /** Environment name → what went wrong while r10k deployed it. */
  failures: Map<string, Trouble>
}

/** What r10k said went wrong: its ERROR lines, and the root causes below them (git's fatal lines, a Puppetfile line). */
class Trouble {
  private readonly errors: string[] = []
  private readonly causes: string[] = []
  line?: number

  get said(): boolean {
    return this.errors.length > 0
  }

  /** Keeps a line if it says what went wrong; true when it did. */
  take(text: string): boolean {
    if (/^(ERROR|FATAL)\b/.test(text)) {
      const error = text
        .replace(/^(ERROR|FATAL)\s*->\s*/, '')
        .replace(/^Error during concurrent deploy of a module: /, '')
      this.errors.push(error.replace(/\S*\/(Puppetfile)\b/g, '$1'))
      return true
    }

    // git's own `fatal:`/`error:` lines, which r10k prints inside its error's "Original exception": the root cause.
    const cause = /^(?:fatal|error): (.+)$/.exec(text)?.[1]
    if (cause) this.causes.push(cause)
    // Ruby's syntax error in "Original exception": `/path/Puppetfile:8: syntax error, unexpected ...`.
    const syntax = /(?:^|\/)Puppetfile:(\d+): (.+)$/.exec(text)
    if (syntax) {
      this.line ??= Number(syntax[1])
      this.causes.push(`Puppetfile:${syntax[1]}: ${syntax[2]}`)
    }

    return Boolean(cause || syntax)
  }

  describe(): string {
    const cause = this.causes.length > 0 ? `; cause: ${summarise(this.causes)}` : ''
    return redactAll(`${summarise(this.errors)}${cause}`)
  }
}

/** The remote for messages, without any password or token it carries. */
function redact(remote: string): string {
  return remote.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^/:@]+)(:[^/@]*)?@/i,
    (_match, scheme: string, user: string, secret?: string) => (secret ? `${scheme}${user}:***@` : `${scheme}***@`),
  )
}

/** Any URL in a line of output, without its password or token. */
function redactAll(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, (url) => redact(url))
}

function missingTool(error: NodeJS.ErrnoException): Error {
  return error.code === 'ENOENT'
    ? failure(
        'tool',
        'r10k is not installed or not on PATH (Debian/Ubuntu: apt-get install r10k; elsewhere: gem install r10k)',
        error,
      )
    : error
}

/** r10k's errors repeat across lines; keep the first few distinct ones. */
function summarise(errors: string[]): string {
  return [...new Set(errors)].slice(0, 3).join('; ')
}

function r10kConfig(remote: string, cachedir: string, basedir: string): string {
  // JSON is valid YAML, and quoting every value keeps odd URLs intact.
  return `${JSON.stringify({cachedir, sources: {pupistry: {basedir, remote}}}, null, 2)}\n`
}

async function listDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {withFileTypes: true}).catch(() => [])
  return entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith('.')).map((entry) => entry.name)
}

async function isDir(dir: string): Promise<boolean> {
  return (await stat(dir).catch(() => undefined))?.isDirectory() ?? false
}

async function readDeployRecord(dir: string): Promise<DeployRecord | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, DEPLOY_RECORD), 'utf8')) as DeployRecord
  } catch {
    return undefined
  }
}

function modulesOf(record: DeployRecord): Record<string, string> {
  const modules: Record<string, string> = {}
  for (const deploy of record.module_deploys ?? []) {
    if (!deploy.name) continue
    modules[deploy.name] =
      deploy.sha && deploy.sha !== deploy.version ? `${deploy.version ?? ''}@${deploy.sha}` : (deploy.version ?? '')
  }

  return modules
}
