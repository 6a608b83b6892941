import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {type Exposure, exposureOf} from '../../publish/exposure.js'

export default class HieracryptExposure extends BaseCommand<typeof HieracryptExposure> {
  static override enableJsonFlag = true
  static override description =
    `List every protected hiera file a node (or group) could read from the store.

After a compromise: every index still in the store counts, since its bundles stay readable with the node's ` +
    `key. Rotate the secrets in the files listed. Reads this build machine's record of what it sealed.`

  static override args = {
    name: Args.string({description: 'certname of the node, or name of the group', required: true}),
  }
  static override examples = ['<%= config.bin %> hieracrypt exposure web1.example.com']
  static override flags = {
    group: Flags.boolean({description: 'NAME is a group (hieracrypt/groups/NAME.yaml)'}),
  }

  async run(): Promise<Exposure> {
    const result = await exposureOf(await this.runtime(), this.args.name, this.flags.group ? 'group' : 'node')
    const lines = result.files.length > 0 ? result.files : [`${result.reader} can read no sealed file in the store`]
    if (result.unknown.length > 0)
      lines.push(`not known to this build machine (built elsewhere?): ${result.unknown.join(', ')}`)
    this.print(lines.join('\n'))
    return result
  }
}
