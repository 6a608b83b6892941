import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {durationSeconds} from '../config/settings.js'
import {PupistryError, UnhealthyError, UsageError} from '../errors.js'
import {checkHealth} from '../status/health.js'
import {status} from '../status/status.js'
import {shortVersion} from '../util/version.js'

const short = (version?: string) => shortVersion(version, '-')

export default class Status extends BaseCommand<typeof Status> {
  static override description = `Show the built, published and installed version of each environment.

Built comes from this machine's build cache, published from the store, installed from this node's agent state.

With --check (for monitoring) only this node's agent state is read: the exit code is 0 when the environment converges, 40 when Puppet never applied successfully, the last successful apply is older than --max-age, or the last run failed.`

  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json', '<%= config.bin %> status --check --max-age 1h']
  static override flags = {
    check: Flags.boolean({description: 'exit 40 unless the last run succeeded (and, with --max-age, the last successful apply is recent)'}),
    environment: Flags.string({char: 'e', description: 'only this environment (repeatable)', multiple: true}),
    json: Flags.boolean({description: 'print the result as JSON'}),
    'max-age': Flags.string({dependsOn: ['check'], description: 'with --check: the oldest acceptable successful apply, e.g. 900, 30m, 2h'}),
  }

  async run(): Promise<void> {
    if (this.flags.check) return this.check()
    const runtime = await this.runtime()
    const report = await status(runtime, {environments: this.flags.environment})
    if (this.flags.json) {
      this.log(JSON.stringify(report, null, 2))
      return
    }

    if (report.storeError) runtime.log.warn(`store: ${report.storeError}`)
    if (report.environments.length === 0) {
      this.log('no environments built, published or installed on this machine')
      return
    }

    const rows = [['ENVIRONMENT', 'BUILT', 'PUBLISHED', 'SERIAL', 'INSTALLED', 'LAST APPLY']]
    for (const entry of report.environments) {
      const installed = entry.installed
      const lastApply = installed?.lastError ? `error: ${installed.lastError}` : installed?.appliedAt ? `${installed.appliedAt} (${short(installed.appliedVersion)})` : '-'
      const active = installed?.pinned ? `${short(installed.pinned)} (pinned)` : short(installed?.active ?? installed?.version)
      rows.push([entry.environment, short(entry.built?.version), short(entry.published?.version), entry.published ? String(entry.published.serial) : '-', active, lastApply])
    }

    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
    for (const row of rows) this.log(row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  '))
  }

  private async check(): Promise<void> {
    const maxAge = this.flags['max-age']
    let seconds: number | undefined
    try {
      seconds = maxAge === undefined ? undefined : durationSeconds(maxAge)
    } catch (error) {
      if (!(error instanceof PupistryError)) throw error
      throw new UsageError(`--max-age: not a duration: ${maxAge} (use seconds, or 30m, 2h, 1d)`)
    }

    const health = await checkHealth(await this.runtime(), {environments: this.flags.environment, maxAge: seconds})
    if (this.flags.json) this.log(JSON.stringify(health, null, 2))
    else {
      for (const entry of health) {
        const pinned = entry.pinned ? `, pinned to ${short(entry.pinned)} by rollback` : ''
        this.log(entry.healthy ? `${entry.environment}: OK, last applied ${entry.appliedAt} (${short(entry.appliedVersion)})${pinned}` : `${entry.environment}: UNHEALTHY: ${entry.problems.join('; ')}`)
      }
    }

    const sick = health.filter((entry) => !entry.healthy)
    if (sick.length > 0) throw new UnhealthyError(`${sick.map((entry) => entry.environment).join(', ')}: not converging (${sick.flatMap((entry) => entry.problems).join('; ')})`)
  }
}
