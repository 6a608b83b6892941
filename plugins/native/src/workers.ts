import {type ChildProcess, spawn} from 'node:child_process'
import {mkdir, mkdtemp, readFile, rm} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'

import {failure} from './failure.js'
import {missingTool, type RunResult, TOOL_ENV} from './run.js'

/**
 * Each shell runs the jobs it reads from stdin (NUL-separated: slot, argument
 * count, then the arguments, never a command string) in the background, and
 * answers `SLOT CODE` when one ends, so one shell serves many jobs at once.
 * A job's output goes to its slot's two files in DIR, read only when the
 * caller wants it: per-job files cost more file operations in Node than the
 * git processes they serve. Only git and the tree export may run.
 * `export_tree` checks a tree out as r10k's checkout does (attributes and
 * all), with a throwaway index instead of a working copy: one git process,
 * cheaper than `git archive` piped into tar.
 */
const SHELL = `
set -u
dir=$1
export_tree() { GIT_INDEX_FILE=$dir/$slot.index git --git-dir "$1" --work-tree "$3" read-tree -u --reset "$2"; }
while IFS= read -r -d '' slot && IFS= read -r -d '' count; do
  args=()
  for ((i = 0; i < count; i++)); do IFS= read -r -d '' arg; args+=("$arg"); done
  case "\${args[0]}" in
    git|export_tree) ( "\${args[@]}" </dev/null >"$dir/$slot.out" 2>"$dir/$slot.err"; printf '%s %d\\n' "$slot" "$?" ) & ;;
    *) printf '%s 126\\n' "$slot" ;;
  esac
done
wait
`

/** Node's `spawn` forks all of Node: a few shells are started once, and they start everything else. */
const SHELLS = 2

interface Shell {
  child: ChildProcess
  /** The slots of its jobs still running. */
  running: Set<number>
}

/**
 * Runs git for the assembler through a few long-lived bash shells, at most
 * `size` jobs at once. Node's own `spawn` forks the whole Node process,
 * which costs several milliseconds a process here (far more on a busy
 * machine); a shell forks in a fraction of that, and a build starts a few
 * processes per module.
 */
export class Workers {
  private readonly freeSlots: number[] = []
  private readonly waiting: Array<(slot: number) => void> = []
  private readonly answers = new Map<number, (code: number) => void>()
  private shells?: Promise<{dir: string; shells: Shell[]}>
  private broken?: Error
  private slots = 0
  /** Jobs started so far, for the timing lines of a verbose build. */
  jobs = 0

  constructor(
    private readonly size: number,
    private readonly tmpRoot: string,
  ) {}

  /**
   * Runs `git ARGS...` (or `export_tree MIRROR COMMIT DEST`).
   * Stdout is read only when asked for, stderr only when the job failed.
   */
  async run(args: string[], options: {stdout?: boolean} = {}): Promise<RunResult> {
    // Fields are NUL-terminated on the wire; a NUL inside one would shift every field after it.
    if (args.some((arg) => arg.includes('\0')))
      throw failure('settings', `a git argument contains a NUL character: ${JSON.stringify(args.join(' '))}`)
    this.shells ??= this.start()
    this.jobs++
    const {dir, shells} = await this.shells
    const slot = await this.take()
    const shell = shells.reduce((a, b) => (b.running.size < a.running.size ? b : a))
    try {
      shell.running.add(slot)
      const code = await new Promise<number>((resolve) => {
        this.answers.set(slot, resolve)
        shell.child.stdin!.write(
          `${[String(slot), String(args.length), ...args].map((field) => `${field}\0`).join('')}`,
        )
      })
      if (code === -1) throw this.broken ?? failure('tool', 'a bash shell running git stopped unexpectedly')
      if (code === 127) throw missingTool('git', Object.assign(new Error('not found'), {code: 'ENOENT'}))
      const [stdout, stderr] = await Promise.all([
        options.stdout ? readFile(path.join(dir, `${slot}.out`), 'utf8').catch(() => '') : '',
        code === 0 ? '' : readFile(path.join(dir, `${slot}.err`), 'utf8').catch(() => ''),
      ])
      return {code, stderr, stdout}
    } finally {
      shell.running.delete(slot)
      if (args[0] === 'export_tree') await rm(path.join(dir, `${slot}.index`), {force: true})
      this.give(slot)
    }
  }

  /** Stops the shells (they exit when their input ends and their jobs are done) and removes the job files. */
  async close(): Promise<void> {
    if (!this.shells) return
    const {dir, shells} = await this.shells
    for (const shell of shells) shell.child.stdin!.end()
    await rm(dir, {force: true, recursive: true})
  }

  private take(): Promise<number> {
    const slot = this.freeSlots.pop()
    if (slot !== undefined) return Promise.resolve(slot)
    if (this.slots < this.size) return Promise.resolve(this.slots++)
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  private give(slot: number): void {
    const next = this.waiting.shift()
    if (next) next(slot)
    else this.freeSlots.push(slot)
  }

  private async start(): Promise<{dir: string; shells: Shell[]}> {
    await mkdir(this.tmpRoot, {recursive: true})
    const dir = await mkdtemp(path.join(this.tmpRoot, 'jobs-'))
    const shells = Array.from({length: SHELLS}, () => this.startShell(dir))
    return {dir, shells}
  }

  private startShell(dir: string): Shell {
    const child = spawn('bash', ['-c', SHELL, 'bash', dir], {
      env: {...process.env, ...TOOL_ENV},
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    const shell: Shell = {child, running: new Set()}
    createInterface({input: child.stdout!}).on('line', (line) => {
      const [slot, code] = line.split(' ').map(Number)
      const answer = this.answers.get(slot)
      this.answers.delete(slot)
      answer?.(code)
    })
    // A shell that cannot start or dies answers its pending jobs with -1.
    const lost = () => {
      for (const slot of shell.running) {
        const answer = this.answers.get(slot)
        this.answers.delete(slot)
        answer?.(-1)
      }
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
    return shell
  }
}
