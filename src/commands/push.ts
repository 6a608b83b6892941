import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {channelFlag, rolloutFlag} from '../cli/flags.js'
import {formatPush} from '../formatters/push.js'
import {push, type PushResult} from '../publish/push.js'

export default class Push extends BaseCommand<typeof Push> {
  static override enableJsonFlag = true
  static override description =
    `Sign the built manifests and publish them to the store.

For each built environment: uploads the artifact, signs a manifest with a new serial ` +
    `(general.signing_key_file with openpgp.js, or general.gpg_signing_key through the system gpg), ` +
    `checks the signature, writes the manifest create-only and then moves the environment's pointer to ` +
    `it. Pushing what is already live changes nothing.

--version republishes an earlier build kept in the build cache (the last 5 per environment) as the newest ` +
    `release: a signed rollback with a new, higher serial, which nodes accept like any new release. (The ` +
    `version of pupistry itself is \`pupistry version\` or \`pupistry --version\`.)

--channel publishes to a channel of the environment (canary, stable, any name; stable is latest.json, ` +
    `what every node reads unless agent.channel says otherwise). --rollout PERCENT phases a release in: ` +
    `a node installs it only when a hash of (release, node id) falls below the percentage; the others keep ` +
    `their release. \`push --refresh --rollout 50\` widens, \`--rollout 0\` halts, \`--rollout 100\` completes.`

  static override examples = [
    '<%= config.bin %> push',
    '<%= config.bin %> push --environment staging',
    '<%= config.bin %> push --refresh',
    '<%= config.bin %> push --environment production --channel canary',
    '<%= config.bin %> push --environment production --rollout 10',
    '<%= config.bin %> push --environment production --refresh --rollout 50',
    '<%= config.bin %> push --environment production --version 3f2a9c1d',
  ]
  static override flags = {
    channel: channelFlag({description: 'publish to this channel of the environment (default: stable, latest.json)'}),
    environment: Flags.string({char: 'e', description: 'push only this environment (repeatable)', multiple: true}),
    refresh: Flags.boolean({description: 're-sign what is live with a new serial and expiry (general.manifest_ttl)'}),
    rollout: rolloutFlag,
    version: Flags.string({
      description:
        'publish this earlier build (its version or a unique prefix) as the newest release: a signed ' +
        "rollback (not the CLI's version: that is `pupistry version`)",
    }),
  }

  async run(): Promise<PushResult[]> {
    const results = await push(await this.runtime(), {
      channel: this.flags.channel,
      environments: this.flags.environment,
      refresh: this.flags.refresh,
      rollout: this.flags.rollout,
      version: this.flags.version,
    })
    this.print(formatPush(results))
    return results
  }
}
