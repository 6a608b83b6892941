import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {type NodeRegistration, rotateNode} from '../../sealed/node-init.js'

export default class NodeRotate extends BaseCommand<typeof NodeRotate> {
  static override enableJsonFlag = true
  static override description =
    `Rotate this node's sealed-hiera key.

Makes a next key beside the current one and prints the registry file with both (key and next_key): the ` +
    `builder encrypts to both. Once the registry names only the new key, \`node rotate --finish\` makes it the ` +
    `current one on the node.`

  static override examples = ['<%= config.bin %> node rotate', '<%= config.bin %> node rotate --finish']
  static override flags = {
    certname: Flags.string({description: "the node's certname (default: the one Puppet uses)"}),
    fact: Flags.string({description: 'also register this fact (repeatable)', multiple: true}),
    finish: Flags.boolean({description: 'make the next key the current one'}),
  }

  protected override readonly agentSide = true

  async run(): Promise<NodeRegistration> {
    const result = await rotateNode(await this.runtime(), {
      certname: this.flags.certname,
      facts: this.flags.fact,
      finish: this.flags.finish,
    })
    this.print(result.registry.trimEnd())
    return result
  }
}
