import {spawn} from 'node:child_process'
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'

import type {AssembledEnvironment, AssembleOptions, Assembler, ProviderContext} from 'pupistry'

function failure(kind: 'assembler' | 'settings' | 'tool', message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, {cause}), {kind})
}

/** r10k's own rule: a branch's non-word characters become underscores. */
export function environmentName(branch: string): string {
  return branch.replace(/\W/g, '_')
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

  async assemble(options: AssembleOptions): Promise<AssembledEnvironment[]> {
    const remote = this.context.settings.build.puppetcode
    if (typeof remote !== 'string' || !remote)
      throw failure('settings', 'build.puppetcode is not set: the URL of your Puppet control repo')
    await mkdir(this.context.cacheDir, {recursive: true})
    await writeFile(this.configFile, r10kConfig(remote, path.join(this.context.cacheDir, 'git-cache'), this.basedir), {
      mode: 0o600,
    })

    const wanted = options.environments ?? []
    await this.run(
      ['deploy', 'environment', ...wanted, '--modules', '--config', this.configFile, '--verbose', 'info'],
      remote,
    )

    const names = wanted.length > 0 ? wanted.map(environmentName) : await listDirs(this.basedir)
    const environments: AssembledEnvironment[] = []
    for (const name of names.sort()) {
      const dir = path.join(this.basedir, name)
      const record = await readDeployRecord(dir)
      if (!record) {
        throw failure(
          'assembler',
          `r10k deployed no environment "${name}" from ${redact(remote)}: is there a branch of that name?`,
        )
      }

      environments.push({commit: record.signature, modules: modulesOf(record), name, path: dir})
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

  /** Runs r10k, passing its log lines on as progress and keeping errors for the message. */
  private run(args: string[], remote: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('r10k', args, {env: {...process.env, LANG: 'C.UTF-8'}, stdio: ['ignore', 'pipe', 'pipe']})
      const errors: string[] = []
      // git's own `fatal:`/`error:` lines, which r10k prints inside its error's "Original exception": the root cause.
      const causes: string[] = []
      const warned = new Set<string>()
      const onLine = (line: string) => {
        const text = line.replace(/\t/g, ' ').trim()
        if (!text) return
        if (/^(ERROR|FATAL)\b/.test(text)) errors.push(text.replace(/^(ERROR|FATAL)\s*->\s*/, ''))
        const cause = /^(?:fatal|error): (.+)$/.exec(text)?.[1]
        if (cause) causes.push(cause)
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
        if (code === 0 && errors.length === 0) resolve()
        else {
          const reason = errors.length > 0 ? `: ${summarise(errors)}` : ` with exit code ${code}`
          const cause = causes.length > 0 ? `; cause: ${summarise(causes)}` : ''
          reject(
            failure(
              'assembler',
              `r10k deploy of ${redact(remote)} failed${redactAll(reason + cause)} (--verbose shows r10k's output)`,
            ),
          )
        }
      })
    })
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

async function readDeployRecord(dir: string): Promise<DeployRecord | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, '.r10k-deploy.json'), 'utf8')) as DeployRecord
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
