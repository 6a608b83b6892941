import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {durationFlag} from '../cli/flags.js'
import {formatLegacyPrune, formatPrune} from '../formatters/prune.js'
import type {LegacyPruneResult} from '../publish/legacy-prune.js'
import {prune, type PruneResult} from '../publish/prune.js'

export default class Prune extends BaseCommand<typeof Prune> {
  static override enableJsonFlag = true
  static override description =
    `Remove old manifests and artifacts from the store.

Per environment it keeps the manifest the pointer names, any newer one (a push in progress), the --keep ` +
    `newest manifests before the live one and every artifact those name. Artifacts no kept manifest names are ` +
    `removed once older than --grace, so an upload in progress is spared. Only objects of pupistry's own layout ` +
    `(pupistry/<environment>/manifests/ and artifacts/) are ever removed: the Ruby tool's objects and ` +
    `anything else in the bucket stay. Uses the build credentials.

--legacy prunes the Ruby tool's layout instead (build.legacy_layout): old manifest.<md5>.yaml and ` +
    `artifact.<md5>.tar.gz. The version manifest.latest.yaml names, the pointer itself and any *.publickey ` +
    `always stay, as do the --keep most recent other versions and anything younger than --grace.`

  static override examples = [
    '<%= config.bin %> prune --dry-run',
    '<%= config.bin %> prune --keep 10',
    '<%= config.bin %> prune -e production',
    '<%= config.bin %> prune --legacy --keep 2',
  ]
  static override flags = {
    'dry-run': Flags.boolean({description: 'only list what would be removed'}),
    legacy: Flags.boolean({
      description: "prune the Ruby tool's layout (manifest.<md5>.yaml, artifact.<md5>.tar.gz), never its live version",
      exclusive: ['environment'],
    }),
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

  async run(): Promise<PruneResult[] | LegacyPruneResult> {
    const {flags} = this
    if (flags.legacy) {
      const {pruneLegacy} = await import('../publish/legacy-prune.js')
      const options = {dryRun: flags['dry-run'], graceSeconds: flags.grace, keep: flags.keep}
      const result = await pruneLegacy(await this.runtime(), options)
      this.print(formatLegacyPrune(result, flags['dry-run']))
      return result
    }

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
