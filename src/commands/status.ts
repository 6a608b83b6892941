import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {status} from '../status/status.js'

const short = (version?: string) => (version ? version.slice(0, 12) : '-')

export default class Status extends BaseCommand<typeof Status> {
  static override description = `Show the built, published and installed version of each environment.

Built comes from this machine's build cache, published from the store, installed from this node's agent state.`

  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json']
  static override flags = {
    environment: Flags.string({char: 'e', description: 'only this environment (repeatable)', multiple: true}),
    json: Flags.boolean({description: 'print the result as JSON'}),
  }

  async run(): Promise<void> {
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
      rows.push([entry.environment, short(entry.built?.version), short(entry.published?.version), entry.published ? String(entry.published.serial) : '-', short(installed?.version), lastApply])
    }

    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
    for (const row of rows) this.log(row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  '))
  }
}
