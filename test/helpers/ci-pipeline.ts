import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {BIN, execute, show} from './cli.js'

/**
 * Runs the shell of a generated pipeline by hand, as its CI provider would,
 * with the provider's own parts stubbed: actions (`uses:`) are skipped (the
 * test makes the checkout and has Node), and `sudo`, `apt-get`, `npm`, `gh`
 * and `curl` are scripts that record their arguments. `pupistry` is this
 * build's bin/run.js. Everything else (git, r10k, puppet) is real.
 */
export class PipelineStubs {
  readonly bin: string
  readonly log: string
  readonly out: string

  constructor(readonly dir: string) {
    this.bin = path.join(dir, 'bin')
    this.log = path.join(dir, 'stub.log')
    this.out = path.join(dir, 'out')
    mkdirSync(this.bin, {recursive: true})
    mkdirSync(this.out, {recursive: true})
    const record = 'printf "%s %s\\n" "$(basename "$0")" "$*" >> "$STUB_LOG"'
    const stub = (name: string, body = '') =>
      writeFileSync(path.join(this.bin, name), `#!/bin/bash\n${record}\n${body}\n`, {mode: 0o755})
    stub('sudo')
    stub('apt-get')
    stub('npm')
    stub('pupistry', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"`)
    // GitHub's CLI: lists comments (an existing one's id when STUB_COMMENT_ID is set), keeps what is posted.
    stub(
      'gh',
      [
        'if [[ " $* " == *" --jq "* ]]; then [ -z "${STUB_COMMENT_ID:-}" ] || echo "$STUB_COMMENT_ID"; exit 0; fi',
        'for arg in "$@"; do [[ "$arg" == body=@* ]] && cp "${arg#body=@}" "$STUB_OUT/comment.md"; done',
        'exit 0',
      ].join('\n'),
    )
    // GitLab's API through curl: lists notes (one with STUB_COMMENT_ID), keeps what is posted.
    stub(
      'curl',
      [
        'for arg in "$@"; do [[ "$arg" == body@* ]] && { cp "${arg#body@}" "$STUB_OUT/comment.md"; exit 0; }; done',
        'if [ -n "${STUB_COMMENT_ID:-}" ]; then',
        '  printf \'[{"id": %s, "body": "<!-- pupistry-diff -->\\\\nold"}]\' "$STUB_COMMENT_ID"',
        'else echo "[]"; fi',
      ].join('\n'),
    )
    chmodSync(this.bin, 0o755)
  }

  env(): NodeJS.ProcessEnv {
    return {NO_COLOR: '1', PATH: `${this.bin}:${process.env.PATH}`, STUB_LOG: this.log, STUB_OUT: this.out}
  }
}

interface GithubStep {
  name?: string
  uses?: string
  run?: string
  if?: string
  env?: Record<string, string>
  'working-directory'?: string
}

export interface GithubWorkflow {
  jobs: Record<string, {env?: Record<string, string>; steps: GithubStep[]; [key: string]: unknown}>
  [key: string]: unknown
}

/** `${{ name }}` expressions replaced by the values given; any other expression is an error. */
function evaluate(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([\w.-]+)\s*\}\}/g, (_match, name: string) => {
    if (!(name in values)) throw new Error(`the test has no value for the expression ${name}`)
    return values[name] ?? ''
  })
}

/** Runs a job's `run:` steps in order with bash as GitHub does (`bash --noprofile --norc -eo pipefail`). */
export async function runGithubJob(
  workflow: GithubWorkflow,
  name: string,
  context: {values: Record<string, string>; env: NodeJS.ProcessEnv; workspace: string},
): Promise<void> {
  const job = workflow.jobs[name]
  if (!job) throw new Error(`no job ${name}`)
  const jobEnv = Object.fromEntries(
    Object.entries(job.env ?? {}).map(([key, value]) => [key, evaluate(String(value), context.values)]),
  )
  for (const step of job.steps) {
    if (step.uses || !step.run) continue
    const env = {
      ...context.env,
      ...jobEnv,
      ...Object.fromEntries(
        Object.entries(step.env ?? {}).map(([key, value]) => [key, evaluate(String(value), context.values)]),
      ),
    }
    const cwd = step['working-directory'] ? evaluate(step['working-directory'], context.values) : context.workspace
    const result = await execute('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run], {cwd, env})
    if (result.code !== 0) throw new Error(`step "${step.name ?? step.run}" of ${name} failed: ${show(result)}`)
  }
}

interface GitlabJob {
  extends?: string
  variables?: Record<string, string>
  before_script?: string[]
  script?: string[]
  after_script?: string[]
  [key: string]: unknown
}

/** `$NAME` and `${NAME}` from the variables so far, as GitLab expands a variable's value. */
function expand(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{?(\w+)\}?/g, (_match, name: string) => env[name] ?? '')
}

/**
 * Runs a GitLab job's before_script and script in one bash (as the shell
 * executor does, stopping at the first failing command), then after_script.
 */
export async function runGitlabJob(
  pipeline: Record<string, GitlabJob>,
  name: string,
  context: {env: NodeJS.ProcessEnv; projectDir: string},
): Promise<void> {
  const job = pipeline[name]
  if (!job) throw new Error(`no job ${name}`)
  const parent = job.extends ? (pipeline[job.extends] ?? {}) : {}
  const merged: GitlabJob = {...parent, ...job, variables: {...parent.variables, ...job.variables}}
  const env: NodeJS.ProcessEnv = {...context.env}
  for (const [key, value] of Object.entries(merged.variables ?? {})) env[key] = expand(String(value), env)
  const script = [...(merged.before_script ?? []), ...(merged.script ?? [])].join('\n')
  const result = await execute('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], {
    cwd: context.projectDir,
    env,
  })
  const after = (merged.after_script ?? []).join('\n')
  if (after) await execute('bash', ['--noprofile', '--norc', '-c', after], {cwd: context.projectDir, env})
  if (result.code !== 0) throw new Error(`job ${name} failed: ${show(result)}`)
}
