import type {Command} from '@oclif/core'

import {formatTemplateListing} from '../formatters/templates.js'
import type {Runtime} from '../runtime.js'
import type {ContextOptions, Schedule} from '../templates/context.js'
import type {TemplateKind} from '../templates/render.js'
import {
  listTemplates,
  type Rendered,
  renderTemplate,
  type TemplateListing,
  writeRendered,
} from '../templates/service.js'
import {BaseCommand} from './base-command.js'

/** What `--json` prints for a rendered template: its text, or the file it went to. */
export type Emitted = Rendered | {credentials: boolean; file: string}

/** What `bootstrap` and `packer` share: listing templates, the context flags, and where the result goes. */
export abstract class TemplateCommand<T extends typeof Command> extends BaseCommand<T> {
  static override enableJsonFlag = true

  protected async list(kind: TemplateKind): Promise<TemplateListing[]> {
    const listing = await listTemplates(await this.runtime(), kind)
    this.print(formatTemplateListing(listing))
    return listing
  }

  protected async render(
    kind: TemplateKind,
    name: string,
    flags: {environment?: string; schedule: string; 'allow-build-credentials': boolean},
  ): Promise<Rendered> {
    const runtime = await this.runtime()
    const options: ContextOptions = {
      allowBuildCredentials: flags['allow-build-credentials'],
      environment: flags.environment,
      plugins: this.nodePlugins(runtime),
      schedule: flags.schedule as Schedule,
    }
    return renderTemplate(runtime, kind, name, options)
  }

  /**
   * Writes to a file (0600 when it holds credentials) or to stdout. Under
   * --json the text goes into the result instead, so stdout stays one object.
   */
  protected async emit(rendered: Rendered, file: string | undefined): Promise<Emitted> {
    if (!file) {
      if (!this.jsonEnabled()) process.stdout.write(rendered.text)
      return rendered
    }

    await writeRendered(file, rendered)
    const runtime = await this.runtime()
    runtime.log.info(`wrote ${file}${rendered.credentials ? ' (mode 0600: it holds the agent credentials)' : ''}`)
    return {credentials: rendered.credentials, file}
  }

  /**
   * Plugins installed from a registry, which nodes install at the same
   * version. Bundled plugins come with pupistry; linked ones cannot be installed elsewhere.
   */
  protected nodePlugins(runtime: Runtime): Array<{name: string; version: string}> {
    const plugins = this.config.getPluginsList()
    for (const plugin of plugins.filter((candidate) => candidate.type === 'link')) {
      runtime.log.warn(`plugin ${plugin.name} is linked from ${plugin.root}: nodes do not get it`)
    }

    return plugins
      .filter((plugin) => plugin.type === 'user')
      .map((plugin) => ({name: plugin.name, version: plugin.version}))
      .sort((a, b) => a.name.localeCompare(b.name))
  }
}
