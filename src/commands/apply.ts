import {Flags} from '@oclif/core'

import {apply, short} from '../agent/apply.js'
import {BaseCommand} from '../cli/base-command.js'

export default class Apply extends BaseCommand<typeof Apply> {
  static override description = `Fetch, verify and activate the newest signed release, then run puppet apply.

Checks the environment's pointer with one conditional read. Anything new is verified before a byte is unpacked (signature by a trusted key, environment, serial, expiry, SHA-256 and size), unpacked beside Puppet's code directory and activated atomically; then puppet apply runs with --detailed-exitcodes. Exit codes: 0 success, 20 refused, 21 expired, 22 locked, 30 Puppet failures, 31 Puppet could not run (docs/exit-codes.md).`

  static override examples = ['<%= config.bin %> apply', '<%= config.bin %> apply --noop', '<%= config.bin %> apply --minimal --environment staging']
  static override flags = {
    'allow-downgrade': Flags.boolean({description: 'accept a manifest with a lower serial than the installed one (a deliberate rollback)'}),
    environment: Flags.string({char: 'e', description: 'environment to apply (default: agent.environment, else production)'}),
    force: Flags.boolean({description: 're-download, re-install and re-apply the newest release even if nothing changed'}),
    json: Flags.boolean({description: 'print the result as JSON'}),
    minimal: Flags.boolean({description: 'run Puppet only when a new release was installed or the last run of this one failed'}),
    noop: Flags.boolean({description: 'run Puppet with --noop'}),
  }

  protected override readonly agentSide = true

  async run(): Promise<void> {
    const runtime = await this.runtime()
    const result = await apply(runtime, {
      allowDowngrade: this.flags['allow-downgrade'],
      environment: this.flags.environment,
      force: this.flags.force,
      minimal: this.flags.minimal,
      noop: this.flags.noop,
    })
    if (this.flags.json) {
      this.log(JSON.stringify(result, null, 2))
      return
    }

    const puppet = result.puppet ? `; puppet ${result.puppet.changes ? 'applied changes' : 'made no changes'} (exit ${result.puppet.exitCode})` : ''
    this.log(`${result.environment}: ${result.action === 'installed' ? 'installed' : 'current'} serial ${result.serial} (${short(result.version)})${puppet}`)
  }
}
