import {Flags} from '@oclif/core'

import {type Emitted, TemplateCommand} from '../cli/template-command.js'
import {templateFlags} from '../cli/template-flags.js'
import type {TemplateListing} from '../templates/service.js'

export default class Packer extends TemplateCommand<typeof Packer> {
  static override description =
    `Render a packer template (HCL2) that builds a machine image with the bootstrap baked in.

Without --template, lists the packer templates. The bootstrap script inside is rendered like ` +
    `\`pupistry bootstrap\` does, from the same settings and flags (docs/templates.md).`

  static override examples = [
    '<%= config.bin %> packer',
    '<%= config.bin %> packer --template aws-ubuntu-24.04 --file ubuntu.pkr.hcl',
  ]

  static override flags = {
    ...templateFlags,
    file: Flags.string({
      char: 'f',
      description: 'write to this file (mode 0600 when it holds credentials) instead of stdout',
    }),
    template: Flags.string({char: 't', description: 'the packer template (name or alias) to render'}),
  }

  async run(): Promise<TemplateListing[] | Emitted> {
    const {flags} = this
    if (!flags.template) return this.list('packer')
    return this.emit(await this.render('packer', flags.template, flags), flags.file)
  }
}
