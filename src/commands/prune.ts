import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {durationFlag} from '../cli/flags.js'
import {formatPrune} from '../formatters/prune.js'
import {prune, type PruneResult} from '../publish/prune.js'

export default class Prune extends BaseCommand<typeof Prune> {
  static override enableJsonFlag = true
  static override description =
    `Remove old manifests and artifacts from the store.

Per environment it keeps the manifest the pointer names, any newer one (a push in progress), the --keep ` +
    `newest manifests before the live one and every artifact those name. Artifacts no kept manifest names are ` +
    `removed once older than --grace, so an upload in progress is spared. Only objects of pupistry's own layout ` +
    `(pupistry/<environment>/manifests/ and artifacts/) are ever removed: the Ruby tool's objects and ` +
    `anything else in the bucket stay. Uses the build credentials.`

  static override examples = [
    '<%= config.bin %> prune --dry-run',
    '<%= config.bin %> prune --keep 10',
    '<%= config.bin %> prune -e production',
  ]
  static override flags = {
    'dry-run': Flags.boolean({description: 'only list what would be removed'}),
    environment: Flags.string({char: 'e', description: 'only this environment (repeatable)', multiple: true}),
    grace: durationFlag({
      default: 3600,
      defaultHelp: async () => '1h',
      description: 'spare unreferenced artifacts younger than this (e.g. 30m, 2h, 1d)',
    }),
    keep: Flags.integer({
      default: 5,
      description: 'manifests to keep per environment besides the live one and any newer',
      min: 0,
    }),
  }

  async run(): Promise<PruneResult[]> {
    const {flags} = this
    const options = {
      dryRun: flags['dry-run'],
      environments: flags.environment,
      graceSeconds: flags.grace,
      keep: flags.keep,
    }
    const results = await prune(await this.runtime(), options)
    this.print(formatPrune(results, flags['dry-run']))
    return results
  }
}
