import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {renderDiff} from '../formatters/diff.js'
import {diff, type EnvironmentDiff} from '../publish/diff.js'

export default class Diff extends BaseCommand<typeof Diff> {
  static override enableJsonFlag = true
  static override description = `Show what would change: the built environments against what is published.

Lists modules added, removed or changed (old → new ref) and a unified diff of the changed files, coloured on a terminal.`

  static override examples = ['<%= config.bin %> diff', '<%= config.bin %> diff --environment production --stat']
  static override flags = {
    environment: Flags.string({char: 'e', description: 'only this environment (repeatable)', multiple: true}),
    stat: Flags.boolean({description: 'only list the changed files with line counts'}),
  }

  async run(): Promise<EnvironmentDiff[]> {
    const results = await diff(await this.runtime(), {environments: this.flags.environment, stat: this.flags.stat})
    if (!this.jsonEnabled())
      process.stdout.write(renderDiff(results, {color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR}))
    return results
  }
}
