import {Flags} from '@oclif/core'

import {type Emitted, TemplateCommand} from '../cli/template-command.js'
import {templateFlags} from '../cli/template-flags.js'
import type {TemplateListing} from '../templates/service.js'

export default class Bootstrap extends TemplateCommand<typeof Bootstrap> {
  static override description =
    `Render a script that takes a fresh machine to its first pupistry apply (cloud user-data).

Without --template, lists the bootstrap templates. The script installs Puppet, Node.js and this exact ` +
    `pupistry version, writes /etc/pupistry/settings.yaml with the store, the agent credentials, the ` +
    `trusted keys and the environment, installs a systemd service (or timer) and runs the first apply. ` +
    `Values come from the settings and the flags (docs/templates.md).`

  static override examples = [
    '<%= config.bin %> bootstrap',
    '<%= config.bin %> bootstrap --template debian-12 --environment staging > user-data.sh',
    '<%= config.bin %> bootstrap --template rocky-9 --schedule timer --base64',
    '<%= config.bin %> bootstrap --template ubuntu-24.04 --output bootstrap.sh',
  ]

  static override flags = {
    ...templateFlags,
    base64: Flags.boolean({description: 'print the script base64-encoded, for providers that take user-data that way'}),
    output: Flags.string({
      char: 'o',
      description: 'write to this file (mode 0600 when it holds credentials) instead of stdout',
    }),
    template: Flags.string({char: 't', description: 'the template (name or alias) to render'}),
  }

  async run(): Promise<TemplateListing[] | Emitted> {
    const {flags} = this
    if (!flags.template) return this.list('bootstrap')
    const rendered = await this.render('bootstrap', flags.template, flags)
    return this.emit(
      flags.base64 ? {...rendered, text: `${Buffer.from(rendered.text).toString('base64')}\n`} : rendered,
      flags.output,
    )
  }
}
