import {Flags} from '@oclif/core'

import {type Emitted, TemplateCommand} from '../../cli/template-command.js'
import {renderCiTemplate, type TemplateListing} from '../../templates/service.js'

export default class CiInit extends TemplateCommand<typeof CiInit> {
  static override description =
    `Render a CI pipeline that reviews pull requests and publishes merges (docs/ci.md).

Without --provider, lists the CI templates (the core's github and gitlab, and any a plugin ships). ` +
    `The pipeline builds a pull request with read-only store access and no signing key and comments ` +
    `\`pupistry diff --format markdown\` on it; a merge to an environment branch is built, validated, signed ` +
    `and pushed, one at a time per environment, with the signing key from a CI secret, the passphrase from ` +
    `PUPISTRY_SIGNING_PASSPHRASE and AWS access through OIDC. pupistry and installed plugins are pinned to ` +
    `the versions running now. The store and trusted keys come from the settings; no credential is written.`

  static override examples = [
    '<%= config.bin %> ci init',
    '<%= config.bin %> ci init --provider github --branch production --branch staging --output .github/workflows/pupistry.yml',
    '<%= config.bin %> ci init --provider gitlab --output .gitlab-ci.yml',
  ]

  static override flags = {
    branch: Flags.string({
      char: 'b',
      default: ['production'],
      description: 'a branch whose merges are published as its environment (repeatable)',
      multiple: true,
    }),
    output: Flags.string({char: 'o', description: 'write to this file instead of stdout'}),
    provider: Flags.string({
      char: 'p',
      description: 'the CI template to render: github, gitlab, or one a plugin ships',
    }),
  }

  async run(): Promise<TemplateListing[] | Emitted> {
    const {flags} = this
    if (!flags.provider) return this.list('ci')
    const runtime = await this.runtime()
    const rendered = await renderCiTemplate(runtime, flags.provider, {
      branches: [...new Set(flags.branch)],
      plugins: this.nodePlugins(runtime),
    })
    return this.emit(rendered, flags.output)
  }
}
