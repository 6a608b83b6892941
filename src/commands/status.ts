import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {durationFlag} from '../cli/flags.js'
import {UnhealthyError} from '../errors.js'
import {formatHealth, formatStatus} from '../formatters/status.js'
import {checkHealth, type Health} from '../status/health.js'
import {type Metric, nodeMetrics} from '../status/metrics.js'
import {status, type StatusReport} from '../status/status.js'
import {formatPrometheus} from '../formatters/prometheus.js'

export default class Status extends BaseCommand<typeof Status> {
  static override enableJsonFlag = true
  static override description =
    `Show the built, published and installed version of each environment.

Built comes from this machine's build cache, published from the store (every environment with a pointer ` +
    `there), installed from this node's agent state. A store or agent state that cannot be read is a warning ` +
    `(storeError or stateError with --json), not a failure.

With --check (for monitoring) only this node's agent state is read: the exit code is 0 when the ` +
    `environment converges, 40 when Puppet never applied successfully, the last successful apply is older ` +
    `than --max-age, or the last run failed.`

  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status --json',
    '<%= config.bin %> status --check --max-age 1h',
    '<%= config.bin %> status --format prometheus > /var/lib/node_exporter/textfile/pupistry.prom.tmp',
  ]
  static override flags = {
    check: Flags.boolean({
      description: 'exit 40 unless the last run succeeded (and, with --max-age, the last successful apply is recent)',
    }),
    environment: Flags.string({char: 'e', description: 'only this environment (repeatable)', multiple: true}),
    format: Flags.option({
      description:
        "prometheus: this node's own state (serial, version, last run, expiry) in the text exposition format, " +
        'for a node-exporter textfile collector; reads only the agent state, never the store',
      options: ['text', 'prometheus'] as const,
    })(),
    'max-age': durationFlag({
      dependsOn: ['check'],
      description: 'with --check: the oldest acceptable successful apply, e.g. 900, 30m, 2h',
    }),
  }

  async run(): Promise<StatusReport | Health[] | Metric[]> {
    if (this.flags.check) return this.check()
    if (this.flags.format === 'prometheus') {
      const metrics = await nodeMetrics(await this.runtime())
      this.print(formatPrometheus(metrics).trimEnd())
      return metrics
    }

    const runtime = await this.runtime()
    const report = await status(runtime, {environments: this.flags.environment})
    // One line per side that could not be read, so "nothing published" is never said of a store that is down.
    if (report.storeError && !this.jsonEnabled())
      runtime.log.warn(`cannot read the store${report.store ? ` ${report.store}` : ''}: ${report.storeError}`)
    if (report.stateError && !this.jsonEnabled())
      runtime.log.warn(`cannot read this node's agent state: ${report.stateError}`)
    this.print(formatStatus(report))
    return report
  }

  private async check(): Promise<Health[]> {
    const health = await checkHealth(await this.runtime(), {
      environments: this.flags.environment,
      maxAge: this.flags['max-age'],
    })
    this.print(formatHealth(health))
    const sick = health.filter((entry) => !entry.healthy)
    if (sick.length > 0) {
      const problems = sick.flatMap((entry) => entry.problems).join('; ')
      throw new UnhealthyError(`${sick.map((entry) => entry.environment).join(', ')}: not converging (${problems})`, {
        details: health,
      })
    }

    return health
  }
}
