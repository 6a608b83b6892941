import {type ChildProcess, spawn} from 'node:child_process'
import {mkdir, mkdtemp, readFile, rm} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'

import {failure} from './failure.js'
import {missingTool, type RunResult, TOOL_ENV} from './run.js'

/**
 * Each worker is a small shell that runs the jobs it reads from stdin
 * (NUL-separated: argument count, then the arguments, never a command
 * string) and answers each with its exit code. A job's output goes to the
 * worker's own two files, read only when the caller wants it: per-job files
 * cost more file operations in Node than the git processes they serve.
 * Only git and the tree export may run. `export_tree` checks a tree out
 * as r10k's checkout does (attributes and all), with a throwaway index
 * instead of a working copy: one git process, cheaper than `git archive`
 * piped into tar.
 */
const WORKER = `
set -u
out=$1 err=$2
export_tree() { GIT_INDEX_FILE=$out.index git --git-dir "$1" --work-tree "$3" read-tree -u --reset "$2"; }
while IFS= read -r -d '' count; do
  args=()
  for ((i = 0; i < count; i++)); do IFS= read -r -d '' arg; args+=("$arg"); done
  case "\${args[0]}" in
    git|export_tree) "\${args[@]}" </dev/null >"$out" 2>"$err"; printf '%d\\n' "$?" ;;
    *) printf '126\\n' ;;
  esac
done
`

interface Worker {
  child: ChildProcess
  answers: Array<(code: number) => void>
  out: string
  err: string
}

export class Workers {
  private readonly idle: Worker[] = []
  private readonly waiting: Array<(worker: Worker) => void> = []
  private readonly all: Worker[] = []
  private dir?: Promise<string>
  private broken?: Error
  private started = 0

  constructor(
    private readonly size: number,
    private readonly tmpRoot: string,
  ) {}

  /**
   * Runs `git ARGS...` (or `export_tree MIRROR COMMIT DEST`) in a worker.
   * Stdout is read only when asked for, stderr only when the job failed.
   */
  async run(args: string[], options: {stdout?: boolean} = {}): Promise<RunResult> {
    // Fields are NUL-terminated on the wire; a NUL inside one would shift every field after it.
    if (args.some((arg) => arg.includes('\0')))
      throw failure('settings', `a git argument contains a NUL character: ${JSON.stringify(args.join(' '))}`)
    const worker = await this.take()
    try {
      const code = await new Promise<number>((resolve) => {
        worker.answers.push(resolve)
        worker.child.stdin!.write(`${[String(args.length), ...args].map((field) => `${field}\0`).join('')}`)
      })
      if (code === -1) throw this.broken ?? failure('tool', 'a bash worker running git stopped unexpectedly')
      if (code === 127) throw missingTool('git', Object.assign(new Error('not found'), {code: 'ENOENT'}))
      const [stdout, stderr] = await Promise.all([
        options.stdout ? readFile(worker.out, 'utf8').catch(() => '') : '',
        code === 0 ? '' : readFile(worker.err, 'utf8').catch(() => ''),
      ])
      return {code, stderr, stdout}
    } finally {
      if (args[0] === 'export_tree') await rm(`${worker.out}.index`, {force: true})
      this.give(worker)
    }
  }

  /** Stops the workers (they exit when their input ends) and removes the job files. */
  async close(): Promise<void> {
    for (const worker of this.all) worker.child.stdin!.end()
    if (this.dir) await rm(await this.dir, {force: true, recursive: true})
  }

  private async take(): Promise<Worker> {
    const worker = this.idle.pop()
    if (worker) return worker
    if (this.started < this.size) {
      const index = this.started++
      this.dir ??= mkdir(this.tmpRoot, {recursive: true}).then(() => mkdtemp(path.join(this.tmpRoot, 'jobs-')))
      return this.start(index, await this.dir)
    }

    return new Promise((resolve) => this.waiting.push(resolve))
  }

  private give(worker: Worker): void {
    const next = this.waiting.shift()
    if (next) next(worker)
    else this.idle.push(worker)
  }

  private start(index: number, dir: string): Worker {
    const out = path.join(dir, `${index}.out`)
    const err = path.join(dir, `${index}.err`)
    const child = spawn('bash', ['-c', WORKER, 'bash', out, err], {
      env: {...process.env, ...TOOL_ENV},
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    const worker: Worker = {answers: [], child, err, out}
    createInterface({input: child.stdout!}).on('line', (line) => worker.answers.shift()?.(Number(line)))
    // A worker that cannot start or dies answers its pending jobs with -1.
    const lost = () => {
      for (const answer of worker.answers.splice(0)) answer(-1)
    }
    child.on('error', (error: NodeJS.ErrnoException) => {
      this.broken =
        error.code === 'ENOENT'
          ? missingTool('bash', error)
          : failure('tool', `cannot start bash to run git: ${error.message}`, error)
      lost()
    })
    child.on('close', lost)
    child.stdin!.on('error', () => {})
    this.all.push(worker)
    return worker
  }
}
