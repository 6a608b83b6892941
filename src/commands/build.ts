import {Flags} from '@oclif/core'

import {build} from '../build/build.js'
import {BaseCommand} from '../cli/base-command.js'
import {formatBytes} from '../cli/format.js'
import {shortVersion} from '../util/version.js'

export default class Build extends BaseCommand<typeof Build> {
  static override hiddenAliases = ['generate']
  static override description = `Assemble the control repo and pack one deterministic artifact per environment.

Runs the assembler (build.assembler, default r10k) on build.puppetcode, then packs each environment into a .tar.gz in the local cache, versioned by its SHA-256. Building again with nothing changed upstream gives the same version. Also available as \`generate\`, its name in pupistry 1.x.`

  static override examples = ['<%= config.bin %> build', '<%= config.bin %> build --environment production', '<%= config.bin %> build --json']
  static override flags = {
    environment: Flags.string({char: 'e', description: 'build only this branch (repeatable)', multiple: true}),
    json: Flags.boolean({description: 'print the result as JSON'}),
  }

  async run(): Promise<void> {
    const runtime = await this.runtime()
    const results = await build(runtime, {environments: this.flags.environment})
    if (this.flags.json) {
      this.log(JSON.stringify(results.map((result) => ({environment: result.record.environment, unchanged: result.unchanged, version: result.record.version, ...result.record.artifact})), null, 2))
      return
    }

    for (const {record, skipped, unchanged} of results) {
      const {artifact} = record
      this.log(`${record.environment}: ${shortVersion(record.version)} ${unchanged ? 'unchanged' : 'built'} (${formatBytes(artifact.size)}, ${artifact.files} files, ${formatBytes(artifact.unpacked_size)} unpacked)`)
      if (skipped.length > 0) runtime.log.warn(`${record.environment}: left out ${skipped.length} special files (sockets, FIFOs, devices): ${skipped.slice(0, 3).join(', ')}`)
    }

    if (results.every((result) => result.unchanged)) this.log('nothing changed — did you git push?')
  }
}
