import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {initNode, type NodeRegistration} from '../../sealed/node-init.js'

export default class NodeInit extends BaseCommand<typeof NodeInit> {
  static override enableJsonFlag = true
  static override description =
    `Make this node's key for sealed hiera and print its registry file.

Run as root on the node. Writes the secret key (agent.node_key_file, default /etc/pupistry/node/node.secret.asc, ` +
    `0600 in a 0700 directory), reads with facter the facts the active release's hiera.yaml interpolates (and any ` +
    `--fact), and prints hieracrypt/nodes/<certname>.yaml. Committing that file to the control repo is what ` +
    `lets the node read its hiera data.`

  static override examples = ['<%= config.bin %> node init', '<%= config.bin %> node init --fact role --fact os.family']
  static override flags = {
    certname: Flags.string({
      description: "the node's certname (default: the one Puppet uses, `puppet config print certname`)",
    }),
    fact: Flags.string({description: 'also register this fact (dotted: os.family; repeatable)', multiple: true}),
    force: Flags.boolean({description: 'replace an existing node key'}),
  }

  protected override readonly agentSide = true

  async run(): Promise<NodeRegistration> {
    const result = await initNode(await this.runtime(), {
      certname: this.flags.certname,
      facts: this.flags.fact,
      force: this.flags.force,
    })
    this.print(result.registry.trimEnd())
    return result
  }
}
