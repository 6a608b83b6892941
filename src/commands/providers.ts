import {BaseCommand} from '../cli/base-command.js'
import {formatProviders, type ProviderListing} from '../formatters/providers.js'
import {PROVIDER_KINDS} from '../registry/registry.js'

export default class Providers extends BaseCommand<typeof Providers> {
  static override enableJsonFlag = true
  static override description =
    `List the assemblers, stores, signers and templates that the core and installed plugins provide.

Each line names the provider, the plugin that provides it with its version, and how that plugin came ` +
    `(core: bundled with pupistry; user: installed with \`pupistry plugins install\`; link: linked with ` +
    `\`pupistry plugins link\`). Plugins that fail or that were made for another plugin contract are reported as warnings.`

  static override examples = ['<%= config.bin %> providers', '<%= config.bin %> providers --json']
  async run(): Promise<ProviderListing[]> {
    const runtime = await this.runtime()
    const listing: ProviderListing[] = []
    for (const kind of PROVIDER_KINDS) {
      for (const {descriptor, plugin} of await runtime.registry.list(kind)) {
        listing.push({
          description: descriptor.description,
          kind,
          name: descriptor.name,
          plugin: plugin.name,
          type: plugin.type,
          version: plugin.version,
        })
      }
    }

    this.print(formatProviders(listing, PROVIDER_KINDS))
    return listing
  }
}
