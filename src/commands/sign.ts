import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {channelFlag} from '../cli/flags.js'
import {UsageError} from '../errors.js'
import {checkEnvironmentName} from '../format/environment.js'
import {formatSign} from '../formatters/sign.js'
import {type SignResult, signPrepared} from '../publish/cosign.js'

export default class Sign extends BaseCommand<typeof Sign> {
  static override enableJsonFlag = true
  static override description =
    `Add your signature to a manifest a push prepared, and publish it once enough keys signed.

With general.signature_threshold above 1, \`pupistry push\` signs with one key and leaves the manifest in ` +
    `the store as prepared (pupistry/<environment>/prepared/<channel>.json), unpublished. Each further key ` +
    `holder runs \`pupistry sign\` with their own signing key: it checks that the signatures already there ` +
    `are by keys in general.trusted_keys, adds theirs, and once the threshold of distinct keys is met writes ` +
    `the manifest under its serial and moves the channel's pointer to it.`

  static override examples = [
    '<%= config.bin %> sign -e production',
    '<%= config.bin %> sign -e production --channel canary',
  ]
  static override flags = {
    channel: channelFlag({description: 'the channel of the prepared manifest (default: stable)'}),
    environment: Flags.string({char: 'e', description: 'the environment of the prepared manifest (required)'}),
  }

  async run(): Promise<SignResult> {
    const runtime = await this.runtime()
    const {environment} = this.flags
    if (!environment) throw new UsageError('name the environment of the prepared manifest with --environment')
    const result = await signPrepared(runtime, {
      channel: this.flags.channel,
      environment: checkEnvironmentName(environment),
    })
    this.print(formatSign(result))
    return result
  }
}
