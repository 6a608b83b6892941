import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {formatBytes} from '../cli/format.js'
import {durationSeconds} from '../config/settings.js'
import {UsageError} from '../errors.js'
import {prune} from '../publish/prune.js'

export default class Prune extends BaseCommand<typeof Prune> {
  static override description = `Remove old manifests and artifacts from the store.

Per environment it keeps the manifest the pointer names, any newer one (a push in progress), the newest --keep manifests and every artifact those name. Artifacts no kept manifest names are removed once older than --grace, so an upload in progress is spared. Only objects of pupistry's own layout (pupistry/<environment>/manifests/ and artifacts/) are ever removed: the Ruby tool's objects and anything else in the bucket stay. Uses the build credentials.`

  static override examples = ['<%= config.bin %> prune --dry-run', '<%= config.bin %> prune --keep 10', '<%= config.bin %> prune -e production']
  static override flags = {
    'dry-run': Flags.boolean({description: 'only list what would be removed'}),
    environment: Flags.string({char: 'e', description: 'only this environment (repeatable)', multiple: true}),
    grace: Flags.string({default: '1h', description: 'spare unreferenced artifacts younger than this (e.g. 30m, 2h, 1d)'}),
    json: Flags.boolean({description: 'print the result as JSON'}),
    keep: Flags.integer({default: 5, description: 'manifests to keep per environment besides the live one', min: 1}),
  }

  async run(): Promise<void> {
    const {flags} = this
    let graceSeconds: number
    try {
      graceSeconds = durationSeconds(flags.grace)
    } catch {
      throw new UsageError(`--grace: not a duration: ${flags.grace} (use e.g. 30m, 2h, 1d)`)
    }

    const results = await prune(await this.runtime(), {dryRun: flags['dry-run'], environments: flags.environment, graceSeconds, keep: flags.keep})
    if (flags.json) {
      this.log(JSON.stringify(results, null, 2))
      return
    }

    if (results.length === 0) this.log('nothing of pupistry is in the store')
    const verb = flags['dry-run'] ? 'would remove' : 'removed'
    for (const result of results) {
      if (result.skipped) continue
      if (flags['dry-run']) for (const object of result.deleted) this.log(`${result.environment}: would remove ${object.key}`)
      const kept = result.keptManifests
      this.log(
        `${result.environment}: live serial ${result.live}; kept ${kept.length} manifest(s) (serials ${kept[0]}–${kept.at(-1)}) and ${result.keptArtifacts} artifact(s); ${verb} ${result.deleted.length} object(s), ${formatBytes(result.freedBytes)}`,
      )
    }
  }
}
