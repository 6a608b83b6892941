import {readFileSync} from 'node:fs'

import Handlebars from 'handlebars'

import type {TemplateDescriptor} from '../contracts.js'
import {PupistryError, SettingsError, TemplateError, UsageError} from '../errors.js'
import type {ProviderRegistry, Registered} from '../registry/registry.js'
import {commentText, hclHeredoc, shellHeredoc, shellQuote} from './quote.js'

export type TemplateKind = 'bootstrap' | 'packer' | 'ci'

/** What every template's context has: the template's own name and description. */
export interface RenderContext {
  template: {name: string; description: string}
}

/** A name the context does not have: raised inside handlebars, reported with the template's name. */
class UnknownValue extends Error {}

const COMPILE_OPTIONS = {noEscape: true, strict: true} as const

type RuntimeOptions = Parameters<HandlebarsTemplateDelegate>[1]

/**
 * The templates and partials that plugins offer (the core's first), rendered
 * strictly: every value comes from the context object, and a name that is not
 * in it stops the rendering instead of printing nothing.
 */
export class Templates {
  private readonly handlebars = Handlebars.create()
  private readonly compiled = new Map<string, HandlebarsTemplateDelegate>()

  private constructor(
    private readonly entries: Array<Registered<'templates'>>,
    private readonly makeContext: (descriptor: TemplateDescriptor) => RenderContext,
    /** Where the settings came from, for messages about a missing one. */
    private readonly source: string,
  ) {
    // Compiled on first use, so that one unreadable partial does not stop the listing or other templates.
    for (const {descriptor} of entries.filter((entry) => entry.descriptor.kind === 'partial')) {
      this.handlebars.registerPartial(descriptor.name, ((context: unknown, options: RuntimeOptions) =>
        this.compile(descriptor)(context, options)) as unknown as HandlebarsTemplateDelegate)
    }

    this.registerHelpers()
  }

  /** Templates and partials from the registry; `makeContext` is called for each template rendered. */
  static async load(
    registry: ProviderRegistry,
    makeContext: (descriptor: TemplateDescriptor) => RenderContext = noContext,
    source = 'the settings',
  ): Promise<Templates> {
    return new Templates(await registry.list('templates'), makeContext, source)
  }

  list(kind: TemplateKind): Array<Registered<'templates'>> {
    return this.entries.filter((entry) => entry.descriptor.kind === kind)
  }

  find(kind: TemplateKind, name: string): Registered<'templates'> {
    const candidates = this.list(kind)
    const found =
      candidates.find((entry) => entry.descriptor.name === name) ??
      candidates.find((entry) => entry.descriptor.aliases?.includes(name))
    if (found) return found
    throw new UsageError(
      `no ${kind} template named "${name}" (available: ${candidates.map((entry) => entry.descriptor.name).join(', ') || 'none'})`,
      {
        hint: `run \`pupistry ${kind}\` to list them with their aliases`,
      },
    )
  }

  /** Renders one template with its context. */
  render(kind: TemplateKind, name: string): string {
    const {descriptor} = this.find(kind, name)
    const context = this.makeContext(descriptor)
    try {
      return this.compile(descriptor)(strict(context, []))
    } catch (error) {
      if (error instanceof PupistryError && !(error instanceof TemplateError)) throw error
      const message = error instanceof UnknownValue ? error.message : (error as Error).message.split('\n').join(' ')
      throw new TemplateError(`template "${descriptor.name}" (${descriptor.path}): ${message}`, {
        cause: error,
        hint: 'docs/templates.md lists every value of the template context',
      })
    }
  }

  private compile(descriptor: TemplateDescriptor): HandlebarsTemplateDelegate {
    const cached = this.compiled.get(`${descriptor.kind}:${descriptor.name}`)
    if (cached) return cached
    let source: string
    try {
      source = readFileSync(descriptor.path, 'utf8')
    } catch (error) {
      throw new TemplateError(
        `cannot read ${descriptor.kind} template "${descriptor.name}" at ${descriptor.path}: ` +
          `${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
    }

    const template = this.handlebars.compile(source, COMPILE_OPTIONS)
    this.compiled.set(`${descriptor.kind}:${descriptor.name}`, template)
    return template
  }

  private registerHelpers(): void {
    const hb = this.handlebars
    // Helpers that print a value refuse one that is not there (a missing hash argument of a partial, say).
    const printing = (name: string, print: (value: unknown) => string) =>
      hb.registerHelper(name, (value: unknown) => {
        if (value === undefined) throw new UnknownValue(`{{${name}}} was given a value that does not exist`)
        return print(value)
      })
    printing('sh', shellQuote)
    printing('heredoc', (value) => shellHeredoc(String(value)))
    printing('hcl', (value) => hclHeredoc(String(value)))
    printing('hcl_string', (value) =>
      JSON.stringify(String(value))
        .replaceAll('${', () => '$${')
        .replaceAll('%{', '%%{'),
    )
    printing('comment', commentText)
    hb.registerHelper('eq', (a: unknown, b: unknown) => a === b)
    hb.registerHelper('refuse', (message: unknown, options: Handlebars.HelperOptions) => {
      throw new UsageError(`template "${(options.data.root as RenderContext).template.name}": ${String(message)}`)
    })
    hb.registerHelper('bootstrap', (name: unknown) => this.render('bootstrap', String(name)))
    // `{{require value "settings.key" "what it is for"}}` prints nothing, and stops with a settings error when the value is unset.
    hb.registerHelper(
      'require',
      (value: unknown, key: unknown, purpose: unknown, options: Handlebars.HelperOptions) => {
        if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) {
          const template = (options.data.root as RenderContext).template.name
          throw new SettingsError(
            `template "${template}" needs ${String(key)} (${String(purpose)}), which is not set in ${this.source}`,
            {
              // The setting, so a caller that can find a default on demand (Node.js from the npm registry) knows which.
              details: {missing: String(key)},
              hint: 'docs/templates.md says what each template needs',
            },
          )
        }

        return ''
      },
    )
  }
}

function noContext(descriptor: TemplateDescriptor): RenderContext {
  throw new TemplateError(`no context to render "${descriptor.name}" with`)
}

/** A view of the context that throws on any name it does not have, in helper arguments too. */
function strict<T>(value: T, trail: string[]): T {
  if (value === null || typeof value !== 'object') return value
  return new Proxy(value as object, {
    get(target, key, receiver) {
      if (typeof key === 'symbol' || key in target) {
        const found = Reflect.get(target, key, receiver)
        return typeof key === 'symbol' ? found : strict(found, [...trail, key])
      }

      throw new UnknownValue(`"${[...trail, key].join('.')}" is not a value of the template context`)
    },
  }) as T
}
