import {spawn} from 'node:child_process'
import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import {ToolError} from '../errors.js'

/**
 * Puppet run offline in a scratch directory of its own: its conf, var, code
 * and log directories point there, so validating as root on a build machine
 * never reads or writes /etc/puppetlabs or ~/.puppetlabs.
 */
export class ScratchPuppet {
  constructor(
    private readonly scratch: string,
    private readonly command = 'puppet',
  ) {}

  /** Runs puppet; resolves with its exit code and stderr (stdout is not needed by any check). */
  async run(args: string[]): Promise<{code: number; stderr: string}> {
    const dirs = Object.fromEntries(
      ['confdir', 'vardir', 'codedir', 'logdir', 'rundir'].map((name) => [name, path.join(this.scratch, name)]),
    )
    await Promise.all(Object.values(dirs).map((dir) => mkdir(dir, {recursive: true})))
    const isolation = Object.entries(dirs).flatMap(([name, dir]) => [`--${name}`, dir])
    return new Promise((resolve, reject) => {
      const child = spawn(this.command, [...args, ...isolation, '--color', 'false'], {
        env: {...process.env, LANG: 'C.UTF-8'},
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8')
      })
      child.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new ToolError(`${this.command} is not installed or not on PATH: validation runs Puppet's own parser`, {
                hint: 'install Puppet on the build machine, or push with --no-validate',
              })
            : error,
        ),
      )
      child.on('close', (code) => resolve({code: code ?? 1, stderr}))
    })
  }
}

/** A problem Puppet reported, located in a file of the environment. */
export interface PuppetProblem {
  file: string
  line?: number
  message: string
}

const LOCATION = /\s*\(file: (.+?)(?:, line: (\d+))?(?:, column: \d+)?\)/

/**
 * Puppet's `Error:` lines, each with the file and line it names. A syntax
 * error at the end of a file carries no line: the file's last line is meant.
 */
export async function puppetProblems(stderr: string, root: string): Promise<PuppetProblem[]> {
  const seen = new Set<string>()
  const problems: PuppetProblem[] = []
  for (const raw of stderr.split('\n')) {
    const text = raw.replace(/^Error: /, '')
    if (text === raw) continue
    const location = LOCATION.exec(text)
    if (!location?.[1]) continue
    const absolute = path.resolve(root, location[1])
    const file = path.relative(root, absolute)
    const message = text
      .replace(LOCATION, '')
      .replace(/^Could not call '\w+' on '\w+': /, '')
      .replace(/^Could not parse for environment \w+: /, '')
      .replace(/ on node \S+$/, '')
      .trim()
    const line = location[2] ? Number(location[2]) : await lastLine(absolute)
    const key = `${file}:${line}:${message}`
    if (seen.has(key)) continue
    seen.add(key)
    problems.push({file, line, message})
  }

  return problems
}

async function lastLine(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  return text.replace(/\n$/, '').split('\n').length
}
