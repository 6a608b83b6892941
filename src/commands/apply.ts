import {Flags} from '@oclif/core'

import {apply, type ApplyResult} from '../agent/apply.js'
import {Daemon} from '../agent/daemon.js'
import {BaseCommand} from '../cli/base-command.js'
import {interruptible} from '../cli/interrupt.js'
import type {LogFormat} from '../cli/logger.js'
import {UsageError} from '../errors.js'
import {describeResult} from '../formatters/apply.js'

export default class Apply extends BaseCommand<typeof Apply> {
  static override enableJsonFlag = true
  static override description =
    `Fetch, verify and activate the newest signed release, then run puppet apply.

Checks the environment's pointer with one conditional read. Anything new is verified before a byte is ` +
    `unpacked (signature by a trusted key, environment, serial, expiry, SHA-256 and size), unpacked ` +
    `beside Puppet's code directory and activated atomically; then puppet apply runs with --detailed-exitcodes.

--noop changes nothing on the node: the release a real run would apply (a newer one is downloaded and ` +
    `verified first) is evaluated by puppet apply --noop where it lies, without switching the environment ` +
    `link and without writing the node's state (serial floor, installed version, pins, last run) or Puppet's ` +
    `own last-run report. Pending changes are read from Puppet's run summary (its noop events), since ` +
    `Puppet exits 0 in noop mode even when it would change something; they are reported as "changes" ` +
    `(--json: puppet.changes). A downloaded release is kept, so the next real run activates it without ` +
    `downloading it again.

With --daemon it keeps running in the foreground (for systemd): a run every agent.daemon_frequency ` +
    `seconds (default 300) plus a random splay, backing off while the store is unreachable. SIGTERM or ` +
    `SIGINT stop it (exit 0), SIGHUP re-reads the settings. Exit codes: docs/exit-codes.md.`

  static override examples = [
    '<%= config.bin %> apply',
    '<%= config.bin %> apply --noop',
    '<%= config.bin %> apply --minimal --environment staging',
    '<%= config.bin %> apply --daemon --log-format json',
    '<%= config.bin %> apply --unpin',
  ]

  static override flags = {
    'allow-downgrade': Flags.boolean({
      description: 'accept a manifest with a lower serial than the installed one (a deliberate rollback)',
    }),
    daemon: Flags.boolean({description: 'keep running: a run every agent.daemon_frequency seconds, until SIGTERM'}),
    environment: Flags.string({
      char: 'e',
      description: 'environment to apply (default: agent.environment, else production)',
    }),
    force: Flags.boolean({
      description: 're-download, re-install and re-apply the newest release even if nothing changed',
    }),
    'log-format': Flags.option({
      default: 'human',
      description: 'messages as lines for people, or one JSON object per line',
      options: ['human', 'json'] as const,
    })(),
    minimal: Flags.boolean({
      description: 'run Puppet only when a new release was installed or the last run of this one failed',
    }),
    noop: Flags.boolean({
      description:
        'evaluate the release a real run would apply with puppet --noop, without switching the live code or ' +
        "changing the node's state; report the changes Puppet has pending",
    }),
    unpin: Flags.boolean({description: 'forget the pin set by `pupistry rollback`, then apply the newest release'}),
  }

  protected override readonly agentSide = true

  protected override logOptions(): {format?: LogFormat; stream?: NodeJS.WriteStream} {
    // A daemon's log is its output: stdout, while Puppet's own report stays on stderr.
    return {format: this.flags['log-format'], stream: this.flags.daemon ? process.stdout : undefined}
  }

  async run(): Promise<ApplyResult | undefined> {
    if (this.flags.daemon) {
      await this.daemon()
      return undefined
    }

    const runtime = await this.runtime()
    const result = await interruptible((signal) =>
      apply(runtime, {
        allowDowngrade: this.flags['allow-downgrade'],
        environment: this.flags.environment,
        force: this.flags.force,
        minimal: this.flags.minimal,
        noop: this.flags.noop,
        signal,
        stopPuppet: signal,
        unpin: this.flags.unpin,
      }),
    )
    this.print(describeResult(result))
    return result
  }

  private async daemon(): Promise<void> {
    // --json is oclif's flag: it is not among this.flags, so ask oclif whether it was given.
    const conflicting = {
      json: this.jsonEnabled(),
      'allow-downgrade': this.flags['allow-downgrade'],
      unpin: this.flags.unpin,
    }
    for (const [flag, given] of Object.entries(conflicting)) {
      if (given) {
        throw new UsageError(`--${flag} cannot be used with --daemon`, {
          hint:
            flag === 'json'
              ? 'use --log-format json for one JSON object per event'
              : `run \`pupistry apply --${flag}\` once, then start the daemon`,
        })
      }
    }

    const options = {
      environment: this.flags.environment,
      force: this.flags.force,
      minimal: this.flags.minimal,
      noop: this.flags.noop,
    }
    const daemon = new Daemon((reload) => (reload ? this.reloadedRuntime() : this.runtime()), options, describeResult)
    const stop = () => daemon.stop()
    const reload = () => daemon.reload()
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
    process.on('SIGHUP', reload)
    try {
      await daemon.run()
    } finally {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      process.off('SIGHUP', reload)
    }
  }
}
