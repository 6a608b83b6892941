import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {interruptible} from '../cli/interrupt.js'
import {formatPush} from '../formatters/push.js'
import {type NotBuiltResult, push, type PushResult} from '../publish/push.js'

export default class Push extends BaseCommand<typeof Push> {
  static override enableJsonFlag = true
  static override description =
    `Sign the built manifests and publish them to the store.

For each built environment: uploads the artifact, signs a manifest with a new serial ` +
    `(general.signing_key_file with openpgp.js, or general.gpg_signing_key through the system gpg), ` +
    `checks the signature, writes the manifest create-only and then moves the environment's pointer to ` +
    `it. Pushing what is already live changes nothing. Environments that failed in the last build are not ` +
    `pushed (not even an earlier build of them): they are named, and listed with \`status: "build-failed"\` ` +
    `under --json.

--version republishes an earlier build kept in the build cache (the last 5 per environment) as the newest ` +
    `release: a signed rollback with a new, higher serial, which nodes accept like any new release. (The ` +
    `version of pupistry itself is \`pupistry version\` or \`pupistry --version\`.)`

  static override examples = [
    '<%= config.bin %> push',
    '<%= config.bin %> push --environment staging',
    '<%= config.bin %> push --refresh',
    '<%= config.bin %> push --environment production --version 3f2a9c1d',
  ]
  static override flags = {
    environment: Flags.string({char: 'e', description: 'push only this environment (repeatable)', multiple: true}),
    refresh: Flags.boolean({description: 're-sign what is live with a new serial and expiry (general.manifest_ttl)'}),
    version: Flags.string({
      description:
        'publish this earlier build (its version or a unique prefix) as the newest release: a signed ' +
        "rollback (not the CLI's version: that is `pupistry version`)",
    }),
  }

  async run(): Promise<Array<PushResult | NotBuiltResult>> {
    const runtime = await this.runtime()
    const results = await interruptible((signal) =>
      push(runtime, {
        environments: this.flags.environment,
        refresh: this.flags.refresh,
        signal,
        version: this.flags.version,
      }),
    )
    this.print(formatPush(results))
    return results
  }
}
