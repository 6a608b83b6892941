import {Command, type Interfaces} from '@oclif/core'

import {loadSettings, type Settings, undeclaredKeyWarnings} from '../config/settings.js'
import {type PathSource, settingsPaths} from '../config/path-sources.js'
import {PupistryError} from '../errors.js'
import {type HookOutcome, ProviderRegistry} from '../registry/registry.js'
import {createRuntime, type Runtime} from '../runtime.js'
import {askSecret} from './ask-secret.js'
import {describeFailure, exitSoonIfStopped, renderFailure, reportedError} from './failure.js'
import {globalFlags} from './flags.js'
import {createLogger, type Logger, type LogFormat} from './logger.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>

/**
 * Every pupistry command: common flags, settings and providers, and the one
 * place where errors are rendered (a message, a hint, the documented exit code).
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = globalFlags

  protected flags!: BaseFlags<T>
  protected args!: Interfaces.InferredArgs<T['args']>
  private runtimeValue?: Runtime

  /** Agent commands run as root: settings others can write are refused there. */
  protected readonly agentSide: boolean = false

  override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      args: this.ctor.args,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      flags: this.ctor.flags,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as Interfaces.InferredArgs<T['args']>
  }

  protected get verbose(): boolean {
    return Boolean(this.flags?.verbose) || Boolean(process.env.DEBUG)
  }

  /** Where and how a command's messages are written; the daemon changes both. */
  protected logOptions(): {format?: LogFormat; stream?: NodeJS.WriteStream} {
    return {}
  }

  /** Settings and providers, loaded on first use so commands that need neither stay fast. */
  protected async runtime(): Promise<Runtime> {
    if (this.runtimeValue) return this.runtimeValue
    const log = createLogger({json: this.jsonEnabled(), verbose: this.verbose, ...this.logOptions()})
    const registry = new ProviderRegistry(async (event) => {
      const outcome = await this.config.runHook(event, {}, undefined, true)
      return outcome as unknown as HookOutcome
    })
    this.runtimeValue = createRuntime({
      askSecret,
      log,
      registry,
      settings: await this.loadSettings(log, registry),
      version: this.config.version,
    })
    return this.runtimeValue
  }

  /** The runtime with settings read again from the file (a daemon's SIGHUP); providers stay. */
  protected async reloadedRuntime(): Promise<Runtime> {
    const current = await this.runtime()
    this.runtimeValue = {...current, settings: await this.loadSettings(current.log, current.registry)}
    return this.runtimeValue
  }

  private async loadSettings(log: Logger, registry: ProviderRegistry): Promise<Settings> {
    const settings = loadSettings({file: this.flags.config, requireSafeOwnership: this.agentSide})
    // Asking every plugin which settings it reads costs time, so only when there is a key to explain.
    if (settings.unknownKeys.length > 0)
      settings.warnings.push(...undeclaredKeyWarnings(settings, await registry.declaredSettings()))
    for (const warning of settings.warnings) log.warn(warning)
    return settings
  }

  /** Warnings about broken plugins, shown once at the end of a command. */
  protected reportPluginWarnings(): void {
    for (const warning of this.runtimeValue?.registry.warnings ?? []) this.runtimeValue?.log.warn(warning)
  }

  override async finally(error: Error | undefined): Promise<void> {
    this.reportPluginWarnings()
    return super.finally(error)
  }

  /** Writes text for people on stdout; nothing for an empty text, and nothing under --json (oclif's log). */
  protected print(text: string): void {
    if (text) this.log(text)
  }

  /** Local paths this command's flags choose (`--dir`, `--file`), for messages about permissions. */
  protected pathSources(): PathSource[] {
    return []
  }

  override async catch(thrown: Error & {oclif?: {exit?: number}}): Promise<void> {
    const error = reportedError(thrown, () => [
      ...(this.flags ? this.pathSources() : []),
      ...(this.runtimeValue ? settingsPaths(this.runtimeValue.settings) : []),
    ])
    const failure = describeFailure(error)
    exitSoonIfStopped(thrown, failure.exitCode)
    // Under --json stdout carries exactly one object, the error; the lines for people still go to stderr.
    if (this.jsonEnabled()) this.logJson({error: failure})
    const jsonLog = this.jsonLogger()
    // oclif's own errors (bad flags, exit()) keep their rendering and codes unless JSON is asked for.
    if (error.oclif && !(error instanceof PupistryError) && !this.jsonEnabled() && !jsonLog) return super.catch(error)
    renderFailure(error, {bin: this.config.bin, jsonLog, verbose: this.verbose})
  }

  /** The logger errors go to when messages are JSON lines (--log-format json); undefined for lines for people. */
  private jsonLogger(): Logger | undefined {
    // Flags that could not be parsed say nothing about the format.
    const options = this.flags ? this.logOptions() : {}
    return options.format === 'json' ? createLogger({verbose: this.verbose, ...options}) : undefined
  }

  protected override get ctor(): typeof BaseCommand {
    return this.constructor as typeof BaseCommand
  }
}

export {describeFailure, type FailureJson} from './failure.js'
