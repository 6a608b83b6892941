import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import type {PathSource} from '../config/path-sources.js'
import {expandHome} from '../config/settings.js'
import {writeExampleSettings} from '../config/setup.js'

export default class Setup extends BaseCommand<typeof Setup> {
  static override description = `Write a commented example settings file to ~/.pupistry/settings.yaml.

Refuses to replace an existing file unless --force is given.`

  static override examples = ['<%= config.bin %> setup', '<%= config.bin %> setup --file /etc/pupistry/settings.yaml']
  static override flags = {
    // `~` is expanded when the command runs: a path here would be the build machine's home, baked into the manifest.
    file: Flags.string({description: 'where to write it', default: '~/.pupistry/settings.yaml'}),
    force: Flags.boolean({description: 'replace an existing file'}),
  }

  protected override pathSources(): PathSource[] {
    return [{path: expandHome(this.flags.file), source: '--file'}]
  }

  async run(): Promise<void> {
    const file = expandHome(this.flags.file)
    await writeExampleSettings(file, this.flags.force)
    this.log(`wrote ${file}; edit general.storage, build.puppetcode and the keys, then run \`pupistry build\``)
  }
}
