import type {ProviderKind} from '../contracts.js'

export interface ProviderListing {
  kind: ProviderKind
  name: string
  description: string
  plugin: string
  /** oclif's plugin type: core (bundled), user (installed) or link. */
  type: string
  version: string
}

/** The providers grouped by kind, each with the plugin (and version) that provides it. */
export function formatProviders(listing: ProviderListing[], kinds: readonly ProviderKind[]): string {
  const nameWidth = Math.max(0, ...listing.map((entry) => entry.name.length))
  const from = (entry: ProviderListing) => `${entry.plugin}@${entry.version} (${entry.type})`
  const fromWidth = Math.max(0, ...listing.map((entry) => from(entry).length))
  const lines: string[] = []
  for (const kind of kinds) {
    const entries = listing.filter((entry) => entry.kind === kind)
    lines.push(`${kind}:`)
    if (entries.length === 0) lines.push('  (none)')
    for (const entry of entries)
      lines.push(`  ${entry.name.padEnd(nameWidth)}  ${from(entry).padEnd(fromWidth)}  ${entry.description}`)
  }

  return lines.join('\n')
}
