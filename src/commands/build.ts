import {Flags} from '@oclif/core'

import {build} from '../build/build.js'
import {BaseCommand} from '../cli/base-command.js'
import {buildSummary, formatBuild} from '../formatters/build.js'

export default class Build extends BaseCommand<typeof Build> {
  static override enableJsonFlag = true
  static override hiddenAliases = ['generate']
  static override description =
    `Assemble the control repo and pack one deterministic artifact per environment.

Runs the assembler (build.assembler, default r10k) on build.puppetcode, then packs each environment into ` +
    `a .tar.gz in the local cache, versioned by its SHA-256. Building again with nothing changed upstream ` +
    `gives the same version. With --source DIR --as ENV, the working tree DIR (what \`git add -A\` would see) ` +
    `is built as environment ENV instead, so a pull request can be diffed against what is live. Also ` +
    `available as \`generate\`, its name in pupistry 1.x.`

  static override examples = [
    '<%= config.bin %> build',
    '<%= config.bin %> build --environment production',
    '<%= config.bin %> build --json',
    '<%= config.bin %> build --source . --as production',
  ]
  static override flags = {
    as: Flags.string({
      dependsOn: ['source'],
      description: 'the environment name the --source tree is built as (a branch name as r10k would correct it)',
    }),
    environment: Flags.string({
      char: 'e',
      description: 'build only this branch (repeatable)',
      exclusive: ['source'],
      multiple: true,
    }),
    source: Flags.string({
      dependsOn: ['as'],
      description:
        'build this working tree (a CI checkout, uncommitted changes included) instead of build.puppetcode, ' +
        'with the same assembler',
    }),
  }

  async run(): Promise<ReturnType<typeof buildSummary>> {
    const runtime = await this.runtime()
    const {as, environment, source} = this.flags
    const results = await build(runtime, {
      environments: environment,
      source: source && as ? {as, dir: source} : undefined,
    })
    for (const {record, skipped} of results) {
      if (skipped.length === 0) continue
      const examples = skipped.slice(0, 3).join(', ')
      runtime.log.warn(
        `${record.environment}: left out ${skipped.length} special files (sockets, FIFOs, devices): ${examples}`,
      )
    }

    this.print(formatBuild(results))
    return buildSummary(results)
  }
}
