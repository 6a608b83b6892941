import {spawn} from 'node:child_process'

import {failure} from './failure.js'

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

const INSTALL_HINTS: Record<string, string> = {
  bash: 'Debian/Ubuntu: apt-get install bash',
  git: 'Debian/Ubuntu: apt-get install git',
}

/** Git never asks on a terminal: a build runs unattended, and a prompt would hang it. */
export const TOOL_ENV = {GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8'}

export function missingTool(program: string, error: NodeJS.ErrnoException): Error {
  return error.code === 'ENOENT'
    ? failure('tool', `${program} is not installed or not on PATH (${INSTALL_HINTS[program] ?? 'install it'})`, error)
    : error
}

/** Runs a program with an argument array (never a shell string) and collects what it printed. */
export function run(program: string, args: string[], options: {cwd?: string} = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: {...process.env, ...TOOL_ENV},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', (error) => reject(missingTool(program, error)))
    child.on('close', (code) =>
      resolve({code, stderr: Buffer.concat(err).toString('utf8'), stdout: Buffer.concat(out).toString('utf8')}),
    )
  })
}

/** The first lines of what a tool said on failure, for a message. */
export function said(result: RunResult): string {
  const lines = result.stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
  return lines.slice(0, 2).join(' ') || `exit code ${result.code}`
}
