import {Flags} from '@oclif/core'

import type {ApplyResult} from '../agent/apply.js'
import {rollback} from '../agent/rollback.js'
import {BaseCommand} from '../cli/base-command.js'
import {interruptible} from '../cli/interrupt.js'
import {describeResult} from '../formatters/apply.js'

export default class Rollback extends BaseCommand<typeof Rollback> {
  static override enableJsonFlag = true
  static override description =
    `Re-activate a release kept on this node, pin it, and run puppet apply.

Without --to, the release that was active before the current one. Nothing is downloaded: the node keeps ` +
    `the last agent.keep_releases releases. The pin holds (apply and the daemon keep this release and run ` +
    `Puppet on it) until \`pupistry apply --unpin\`, or until the store offers a serial above the newest ` +
    `one this node had accepted. To roll back a whole fleet, use \`pupistry push --version\` on the build side instead.`

  static override examples = [
    '<%= config.bin %> rollback',
    '<%= config.bin %> rollback --to 3f2a9c1d',
    '<%= config.bin %> apply --unpin',
  ]
  static override flags = {
    environment: Flags.string({
      char: 'e',
      description: 'environment to roll back (default: agent.environment, else production)',
    }),
    noop: Flags.boolean({description: 'run Puppet with --noop after re-activating'}),
    to: Flags.string({description: 'the kept release to re-activate: its version or a unique prefix'}),
  }

  protected override readonly agentSide = true

  async run(): Promise<ApplyResult> {
    const runtime = await this.runtime()
    const result = await interruptible((signal) =>
      rollback(runtime, {
        environment: this.flags.environment,
        noop: this.flags.noop,
        signal,
        stopPuppet: signal,
        to: this.flags.to,
      }),
    )
    this.print(describeResult(result))
    return result
  }
}
