import {parseArgs} from 'node:util'

import {apply} from '../agent/apply.js'
import {settingsPaths} from '../config/path-sources.js'
import {loadSettings, type Settings, undeclaredKeyWarnings} from '../config/settings.js'
import {describeResult} from '../formatters/apply.js'
import {coreHookRunner, type OwnHooks} from '../registry/core-hooks.js'
import {ProviderRegistry} from '../registry/registry.js'
import {createRuntime} from '../runtime.js'
import {askSecret} from './ask-secret.js'
import {type CliError, describeFailure, exitSoonIfStopped, renderFailure, reportedError} from './failure.js'
import {interruptible} from './interrupt.js'
import {createLogger} from './logger.js'

/**
 * `pupistry apply` without oclif, for the check a node runs every few
 * minutes: loading oclif costs more than the check itself. Only the plain
 * single run is served here, and through the same apply() as the command;
 * anything else (help, --daemon, a flag this parser does not know, plugins a
 * user installed, oclif's environment switches) returns false, and oclif
 * runs the command as usual, parsing, help and errors included.
 */
export async function leanApply(argv: string[], cliRoot: string, ownHooks: OwnHooks): Promise<boolean> {
  const flags = parseFlags(argv)
  // PUPISTRY_LEAN=0 rules this path out when troubleshooting; oclif reads PUPISTRY_CONTENT_TYPE and PUPISTRY_DEBUG.
  const env = process.env
  if (!flags || env.PUPISTRY_LEAN === '0' || env.PUPISTRY_CONTENT_TYPE || env.PUPISTRY_DEBUG) return false
  const hooks = coreHookRunner(cliRoot, ownHooks)
  if (!hooks) return false

  const verbose = Boolean(flags.verbose) || Boolean(process.env.DEBUG)
  const log = createLogger({format: flags['log-format'], json: Boolean(flags.json), verbose})
  const registry = new ProviderRegistry(hooks.run)
  let settings: Settings | undefined
  try {
    settings = loadSettings({file: flags.config, requireSafeOwnership: true})
    if (settings.unknownKeys.length > 0)
      settings.warnings.push(...undeclaredKeyWarnings(settings, await registry.declaredSettings()))
    for (const warning of settings.warnings) log.warn(warning)
    const runtime = createRuntime({askSecret, log, registry, settings, version: hooks.version})
    const result = await interruptible((signal) =>
      apply(runtime, {
        allowDowngrade: flags['allow-downgrade'],
        environment: flags.environment,
        force: flags.force,
        minimal: flags.minimal,
        noop: flags.noop,
        signal,
        stopPuppet: signal,
        unpin: flags.unpin,
      }),
    )
    process.stdout.write(`${flags.json ? json(result) : describeResult(result)}\n`)
  } catch (thrown) {
    const loaded = settings
    const error = reportedError(thrown as CliError, () => (loaded ? settingsPaths(loaded) : []))
    const failure = describeFailure(error)
    exitSoonIfStopped(error, failure.exitCode)
    if (flags.json) process.stdout.write(`${json({error: failure})}\n`)
    const jsonLog = flags['log-format'] === 'json' ? log : undefined
    renderFailure(error, {bin: hooks.bin, jsonLog, verbose})
  } finally {
    for (const warning of registry.warnings) log.warn(warning)
  }
  return true
}

/** As oclif prints a command's --json result (it has no colour theme here). */
const json = (value: unknown) => JSON.stringify(value, null, 2)

/** apply's flags for a single run, or undefined for anything oclif should parse. */
function parseFlags(argv: string[]) {
  try {
    const {positionals, values} = parseArgs({
      allowPositionals: true,
      args: argv,
      options: {
        'allow-downgrade': {type: 'boolean'},
        config: {short: 'c', type: 'string'},
        environment: {short: 'e', type: 'string'},
        force: {type: 'boolean'},
        json: {type: 'boolean'},
        'log-format': {type: 'string'},
        minimal: {type: 'boolean'},
        noop: {type: 'boolean'},
        unpin: {type: 'boolean'},
        verbose: {short: 'v', type: 'boolean'},
      },
      strict: true,
    })
    const format = values['log-format'] ?? 'human'
    if (positionals.length > 0 || (format !== 'human' && format !== 'json')) return undefined
    if (values.config === '' || values.environment === '') return undefined
    return {...values, 'log-format': format as 'human' | 'json'}
  } catch {
    return undefined
  }
}
