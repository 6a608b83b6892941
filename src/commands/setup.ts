import {homedir} from 'node:os'
import path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {writeExampleSettings} from '../config/setup.js'

export default class Setup extends BaseCommand<typeof Setup> {
  static override description = `Write a commented example settings file to ~/.pupistry/settings.yaml.

Refuses to replace an existing file unless --force is given.`

  static override examples = ['<%= config.bin %> setup', '<%= config.bin %> setup --file /etc/pupistry/settings.yaml']
  static override flags = {
    file: Flags.string({description: 'where to write it', default: path.join(homedir(), '.pupistry', 'settings.yaml')}),
    force: Flags.boolean({description: 'replace an existing file'}),
  }

  async run(): Promise<void> {
    await writeExampleSettings(this.flags.file, this.flags.force)
    this.log(`wrote ${this.flags.file}; edit general.storage, build.puppetcode and the keys, then run \`pupistry build\``)
  }
}
