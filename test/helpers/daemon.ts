import {type ChildProcess, spawn} from 'node:child_process'

import {BIN} from './cli.js'

export interface DaemonEvent {
  time: string
  level: string
  event: string
  message: string
  environment?: string
  version?: string
  serial?: number
  action?: string
  exitCode?: number
  puppetExit?: number
  duration?: number
  wait?: number
  failures?: number
  [field: string]: unknown
}

/**
 * A real `pupistry apply --daemon --log-format json` process. Its stdout is
 * parsed line by line (every line must be JSON); tests wait for events, never
 * for fixed times.
 */
export class DaemonProcess {
  readonly events: DaemonEvent[] = []
  readonly notJson: string[] = []
  stderr = ''
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  private readonly child: ChildProcess
  private waiters: Array<() => void> = []

  constructor(settingsFile: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(
      process.execPath,
      [BIN, 'apply', '--daemon', '--log-format', 'json', '--config', settingsFile, ...args],
      {
        env: {...process.env, NO_COLOR: '1', ...env},
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let buffer = ''
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8')
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        try {
          this.events.push(JSON.parse(line) as DaemonEvent)
        } catch {
          this.notJson.push(line)
        }

        this.wake()
      }
    })
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')))
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        resolve({code, signal})
        this.wake()
      }),
    )
  }

  get pid(): number {
    return this.child.pid!
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Resolves with the first event (from index `from` on) matching, or rejects after `timeoutMs` or when the daemon exits. */
  async waitFor(
    match: (event: DaemonEvent) => boolean,
    options: {from?: number; timeoutMs?: number; what?: string} = {},
  ): Promise<DaemonEvent> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000)
    for (;;) {
      const found = this.events.slice(options.from ?? 0).find(match)
      if (found) return found
      if (!this.running) throw new Error(`daemon exited before ${options.what ?? 'the event'}\n${this.transcript()}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${options.what ?? 'an event'}\n${this.transcript()}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.child.kill(signal)
  }

  /** Stops the daemon for good (test cleanup). */
  async dispose(): Promise<void> {
    this.kill('SIGKILL')
    await this.exited
  }

  transcript(): string {
    return (
      `--- events\n${this.events.map((event) => JSON.stringify(event)).join('\n')}\n` +
      `--- not JSON\n${this.notJson.join('\n')}\n--- stderr\n${this.stderr}`
    )
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter()
  }
}
