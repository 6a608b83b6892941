import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {PROVIDER_KINDS as KINDS} from '../registry/registry.js'

export default class Providers extends BaseCommand<typeof Providers> {
  static override description = `List the assemblers, stores, signers and templates that installed plugins provide.`

  static override examples = ['<%= config.bin %> providers', '<%= config.bin %> providers --json']
  static override flags = {
    json: Flags.boolean({description: 'print the result as JSON'}),
  }

  async run(): Promise<void> {
    const runtime = await this.runtime()
    const listing = []
    for (const kind of KINDS) {
      for (const {descriptor, plugin} of await runtime.registry.list(kind)) {
        listing.push({description: descriptor.description, kind, name: descriptor.name, plugin: plugin.name, version: plugin.version})
      }
    }

    if (this.flags.json) {
      this.log(JSON.stringify(listing, null, 2))
      return
    }

    for (const kind of KINDS) {
      const entries = listing.filter((entry) => entry.kind === kind)
      this.log(`${kind}:`)
      if (entries.length === 0) this.log('  (none)')
      for (const entry of entries) this.log(`  ${entry.name.padEnd(12)} ${entry.plugin}@${entry.version}  ${entry.description}`)
    }
  }
}
