import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {formatPush} from '../formatters/push.js'
import {formatPushMarkdown} from '../formatters/push-markdown.js'
import {push, type PushResult} from '../publish/push.js'
import {validate} from '../validate/validate.js'

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

Before anything is uploaded, the builds are checked as \`pupistry validate\` does (Puppet's parser, EPP ` +
    `templates, hiera YAML, build.validate_nodes catalogs); a problem stops the push with exit code 26. ` +
    `--no-validate skips that. --format markdown prints a table for a CI job summary.`

  static override examples = [
    '<%= config.bin %> push',
    '<%= config.bin %> push --environment staging',
    '<%= config.bin %> push --refresh',
    '<%= config.bin %> push --environment production --version 3f2a9c1d',
  ]
  static override flags = {
    format: Flags.string({
      default: 'text',
      description: 'text, or a Markdown table for a CI job summary',
      options: ['text', 'markdown'],
    }),
    validate: Flags.boolean({
      allowNo: true,
      default: true,
      description: 'check the builds as `pupistry validate` does before pushing (--no-validate: do not)',
    }),
    environment: Flags.string({char: 'e', description: 'push only this environment (repeatable)', multiple: true}),
    refresh: Flags.boolean({description: 're-sign what is live with a new serial and expiry (general.manifest_ttl)'}),
    version: Flags.string({
      description:
        'publish this earlier build (its version or a unique prefix) as the newest release: a signed ' +
        "rollback (not the CLI's version: that is `pupistry version`)",
    }),
  }

  async run(): Promise<PushResult[]> {
    const runtime = await this.runtime()
    const {environment: environments, refresh, version} = this.flags
    // A refresh re-signs what is live, which was validated when it was pushed.
    if (this.flags.validate && !refresh) await validate(runtime, {environments, version})
    const results = await push(runtime, {environments, refresh, version})
    this.print(this.flags.format === 'markdown' ? formatPushMarkdown(results) : formatPush(results))
    return results
  }
}
