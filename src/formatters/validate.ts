import type {EnvironmentValidation} from '../validate/validate.js'

/** One line per environment: what was checked. */
export function formatValidate(results: EnvironmentValidation[]): string {
  return results
    .map((result) => {
      const nodes = result.nodes.length > 0 ? `, catalogs of ${result.nodes.join(', ')} compiled` : ''
      return (
        `${result.environment}: valid (${result.manifests} manifests, ${result.templates} EPP templates, ` +
        `${result.yaml} hiera YAML files${nodes})`
      )
    })
    .join('\n')
}
