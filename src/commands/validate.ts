import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {formatValidate} from '../formatters/validate.js'
import {type EnvironmentValidation, validate} from '../validate/validate.js'

export default class Validate extends BaseCommand<typeof Validate> {
  static override enableJsonFlag = true
  static override description =
    `Check the built environments as Puppet would read them, before they are pushed.

Runs \`puppet parser validate\` on every manifest (the environment's and each module's on its modulepath), ` +
    `\`puppet epp validate\` on EPP templates, parses hiera.yaml and the hiera YAML data, and compiles the ` +
    `catalog of each node in build.validate_nodes with Puppet's compiler, offline. \`push\` runs the same ` +
    `checks unless --no-validate. A problem names the file and line and exits 26 (docs/ci.md).`

  static override examples = ['<%= config.bin %> validate', '<%= config.bin %> validate --environment production']
  static override flags = {
    environment: Flags.string({char: 'e', description: 'only this environment (repeatable)', multiple: true}),
  }

  async run(): Promise<EnvironmentValidation[]> {
    const results = await validate(await this.runtime(), {environments: this.flags.environment})
    this.print(formatValidate(results))
    return results
  }
}
