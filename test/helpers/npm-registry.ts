import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {ROOT, run} from './cli.js'

/**
 * A private npm registry on 127.0.0.1 (verdaccio), with its storage in a
 * temporary directory and no uplinks: only what a test publishes exists.
 */
export class NpmRegistry {
  private constructor(
    readonly url: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<NpmRegistry> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-registry-'))
    const config = path.join(dir, 'config.yaml')
    const open = {access: '$all', publish: '$anonymous', unpublish: '$anonymous'}
    // JSON is YAML; verdaccio reads it as its configuration file.
    writeFileSync(
      config,
      JSON.stringify({
        log: {format: 'pretty', level: 'warn', type: 'stdout'},
        // npm itself (a dependency of @oclif/plugin-plugins) is larger than the default limit of 10 MB.
        max_body_size: '100mb',
        middlewares: {audit: {enabled: false}},
        packages: {'**': open, '@*/*': open},
        storage: path.join(dir, 'storage'),
        uplinks: {},
      }),
    )
    const port = await freePort()
    const child = spawn(
      path.join(ROOT, 'node_modules', '.bin', 'verdaccio'),
      ['--config', config, '--listen', `127.0.0.1:${port}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    const registry = new NpmRegistry(`http://127.0.0.1:${port}/`, dir, child)
    const deadline = Date.now() + 30_000
    while (!(await registry.answers())) {
      if (child.exitCode !== null || Date.now() > deadline) {
        registry.stop()
        throw new Error(`verdaccio did not start: ${output}`)
      }

      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    return registry
  }

  /** Where verdaccio keeps packages (`<name>/<name>-<version>.tgz`), for tests that change what it serves. */
  get storage(): string {
    return path.join(this.dir, 'storage')
  }

  /** npm's setting for a token on this registry: verdaccio accepts any for anonymous publishing. */
  get tokenFlag(): string {
    return `--${this.url.replace(/^http:/, '')}:_authToken=test`
  }

  /** Publishes the package in `dir` as it is (its files list decides what goes in). */
  async publish(dir: string): Promise<void> {
    await run(
      'npm',
      ['publish', '--registry', this.url, this.tokenFlag, '--tag', 'latest', '--no-audit', '--no-fund'],
      {cwd: dir},
    )
  }

  stop(): void {
    this.child.kill()
    rmSync(this.dir, {force: true, recursive: true})
  }

  private async answers(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}-/ping`)).ok
    } catch {
      return false
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}
