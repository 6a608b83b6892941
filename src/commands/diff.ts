import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {renderDiff} from '../formatters/diff.js'
import {DEFAULT_MAX_BYTES, renderDiffMarkdown} from '../formatters/diff-markdown.js'
import {diff, type EnvironmentDiff, hasChanges} from '../publish/diff.js'

export default class Diff extends BaseCommand<typeof Diff> {
  static override enableJsonFlag = true
  static override description =
    `Show what would change: the built environments against what is published.

Lists modules added, removed or changed (old → new ref) and a unified diff of the changed files, coloured on a ` +
    `terminal. --format markdown renders the same for a pull-request comment or a job summary, cut to ` +
    `--max-bytes with a note saying what was left out. --exit-code exits 1 when anything changed, as \`git diff\`.`

  static override examples = [
    '<%= config.bin %> diff',
    '<%= config.bin %> diff --environment production --stat',
    '<%= config.bin %> diff --format markdown --exit-code > diff.md',
  ]

  static override flags = {
    environment: Flags.string({char: 'e', description: 'only this environment (repeatable)', multiple: true}),
    'exit-code': Flags.boolean({
      description: 'exit 1 when anything changed and 0 when nothing did (other codes are errors), as git diff',
    }),
    format: Flags.string({
      default: 'text',
      description: 'text for a terminal, or Markdown',
      options: ['text', 'markdown'],
    }),
    'max-bytes': Flags.integer({
      default: DEFAULT_MAX_BYTES,
      description: 'with --format markdown: the longest output, in bytes (a GitHub comment holds 65,536 characters)',
      min: 2048,
    }),
    stat: Flags.boolean({description: 'only list the changed files with line counts'}),
  }

  async run(): Promise<EnvironmentDiff[]> {
    const {flags} = this
    const results = await diff(await this.runtime(), {environments: flags.environment, stat: flags.stat})
    if (!this.jsonEnabled())
      process.stdout.write(
        flags.format === 'markdown'
          ? renderDiffMarkdown(results, {maxBytes: flags['max-bytes']})
          : renderDiff(results, {color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR}),
      )
    // As git diff --exit-code: set, not thrown, so the output (or the --json result) is printed as usual.
    if (flags['exit-code'] && hasChanges(results)) process.exitCode = 1
    return results
  }
}
