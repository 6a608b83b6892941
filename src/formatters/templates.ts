import type {TemplateListing} from '../templates/service.js'

/** Listing lines for people: name, aliases, providing plugin, description. */
export function formatTemplateListing(entries: TemplateListing[]): string {
  const width = Math.max(0, ...entries.map((entry) => entry.name.length))
  const lines = entries.map((entry) => {
    const aliases = entry.aliases.length > 0 ? ` (also ${entry.aliases.join(', ')})` : ''
    return `${entry.name.padEnd(width)}  ${entry.plugin}@${entry.version}  ${entry.description}${aliases}`
  })
  return lines.join('\n')
}
