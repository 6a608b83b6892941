import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {stringify} from 'yaml'

import {type CliResult, ROOT, runCli} from '../../../test/helpers/cli.js'

export const EDGE_FIXTURE = path.join(ROOT, 'plugins', 'native', 'test', 'fixtures', 'make-edge-repo.sh')

export interface Built {
  /** Environment → artifact version (SHA-256). */
  versions: Record<string, string>
  result: CliResult
}

/**
 * Runs `pupistry build` on a control repo with one assembler and its own
 * cache below `dir` (kept between calls, as on a build machine), and returns
 * the version of each environment.
 */
export async function buildWith(
  dir: string,
  assembler: string,
  controlUrl: string,
  options: {build?: Record<string, unknown>; env?: NodeJS.ProcessEnv; args?: string[]} = {},
): Promise<Built> {
  mkdirSync(path.join(dir, 'store'), {recursive: true})
  const settingsFile = path.join(dir, `${assembler}.yaml`)
  writeFileSync(
    settingsFile,
    stringify({
      build: {assembler, puppetcode: controlUrl, ...options.build},
      general: {
        app_cache: path.join(dir, `cache-${assembler}`),
        gpg_disable: true,
        storage: `file://${path.join(dir, 'store')}`,
      },
    }),
  )
  const result = await runCli(['build', '--json', ...(options.args ?? []), '--config', settingsFile], {
    cwd: dir,
    env: options.env,
  })
  const versions: Record<string, string> = {}
  if (result.code === 0) {
    for (const entry of JSON.parse(result.stdout) as Array<{environment: string; version: string}>)
      versions[entry.environment] = entry.version
  }

  return {result, versions}
}

/** The build record the core wrote for an environment. */
export function buildRecord(
  dir: string,
  assembler: string,
  environment: string,
): {build: {modules: Record<string, string>; commit: string; tools: Record<string, string>}} {
  return JSON.parse(readFileSync(path.join(dir, `cache-${assembler}`, 'build', environment, 'build.json'), 'utf8'))
}
