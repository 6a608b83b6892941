import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import type {ProviderKind} from '../contracts.js'
import {PROVIDER_KINDS} from '../registry/registry.js'

interface Listed {
  kind: ProviderKind
  name: string
  description: string
  plugin: string
  /** oclif's plugin type: core (bundled), user (installed) or link. */
  type: string
  version: string
}

export default class Providers extends BaseCommand<typeof Providers> {
  static override description = `List the assemblers, stores, signers and templates that the core and installed plugins provide.

Each line names the provider, the plugin that provides it with its version, and how that plugin came (core: bundled with pupistry; user: installed with \`pupistry plugins install\`; link: linked with \`pupistry plugins link\`). Plugins that fail or that were made for another plugin contract are reported as warnings.`

  static override examples = ['<%= config.bin %> providers', '<%= config.bin %> providers --json']
  static override flags = {
    json: Flags.boolean({description: 'print the result as JSON'}),
  }

  async run(): Promise<void> {
    const runtime = await this.runtime()
    const listing: Listed[] = []
    for (const kind of PROVIDER_KINDS) {
      for (const {descriptor, plugin} of await runtime.registry.list(kind)) {
        listing.push({description: descriptor.description, kind, name: descriptor.name, plugin: plugin.name, type: plugin.type, version: plugin.version})
      }
    }

    if (this.flags.json) {
      this.log(JSON.stringify(listing, null, 2))
      return
    }

    const nameWidth = Math.max(0, ...listing.map((entry) => entry.name.length))
    const from = (entry: Listed) => `${entry.plugin}@${entry.version} (${entry.type})`
    const fromWidth = Math.max(0, ...listing.map((entry) => from(entry).length))
    for (const kind of PROVIDER_KINDS) {
      const entries = listing.filter((entry) => entry.kind === kind)
      this.log(`${kind}:`)
      if (entries.length === 0) this.log('  (none)')
      for (const entry of entries) this.log(`  ${entry.name.padEnd(nameWidth)}  ${from(entry).padEnd(fromWidth)}  ${entry.description}`)
    }
  }
}
