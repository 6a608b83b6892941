import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {channelFlag, rolloutFlag} from '../cli/flags.js'
import {parseFleetCheck} from '../delivery/fleet-check.js'
import {promote, type PromoteResult} from '../delivery/promote.js'
import {UsageError} from '../errors.js'
import {checkEnvironmentName} from '../format/environment.js'
import {formatPromote} from '../formatters/promote.js'

export default class Promote extends BaseCommand<typeof Promote> {
  static override enableJsonFlag = true
  static override description =
    `Promote the release a channel runs to another channel or environment, without rebuilding.

Signs a new manifest for the identical artifact (same SHA-256, same build record) under the target's next ` +
    `serial, with a provenance record naming the source's environment, channel and serial. Across ` +
    `environments (--from-env/--to-env) the artifact object is copied, checked against its signed hash on the ` +
    `way. The source must be signed by your signing key or a key in general.trusted_keys.`

  static override examples = [
    '<%= config.bin %> promote -e production --from canary --to stable',
    '<%= config.bin %> promote --from-env staging --to-env production',
    '<%= config.bin %> promote -e production --from canary --to stable --rollout 25',
    "<%= config.bin %> promote -e production --from canary --to stable --require-fleet 'ok>=95%,age<=1h'",
  ]
  static override flags = {
    environment: Flags.string({char: 'e', description: 'the environment of both source and target'}),
    from: channelFlag({description: 'the channel to promote from (default: stable)'}),
    'from-env': Flags.string({description: 'the environment to promote from (default: --environment)'}),
    'require-fleet': Flags.string({
      description:
        "refuse (exit 41) unless the source's nodes meet it, as `fleet --check`: '[channel:]ok>=N%,age<=DURATION' " +
        '(without a channel, the --from channel); repeatable',
      multiple: true,
    }),
    rollout: rolloutFlag,
    to: channelFlag({description: 'the channel to promote to (default: stable)'}),
    'to-env': Flags.string({description: 'the environment to promote to (default: --environment)'}),
  }

  async run(): Promise<PromoteResult> {
    const runtime = await this.runtime()
    const {environment} = this.flags
    const fromEnvironment = this.flags['from-env'] ?? environment
    const toEnvironment = this.flags['to-env'] ?? environment
    if (!fromEnvironment || !toEnvironment)
      throw new UsageError('name the environment: --environment, or --from-env and --to-env')
    const result = await promote(runtime, {
      from: this.flags.from,
      fromEnvironment: checkEnvironmentName(fromEnvironment),
      requireFleet: this.flags['require-fleet']?.map((text) => parseFleetCheck(text)),
      rollout: this.flags.rollout,
      to: this.flags.to,
      toEnvironment: checkEnvironmentName(toEnvironment),
    })
    this.print(formatPromote(result))
    return result
  }
}
