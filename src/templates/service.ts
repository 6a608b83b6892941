import {open} from 'node:fs/promises'

import {settingsSource} from '../config/settings.js'
import {SettingsError} from '../errors.js'
import type {TemplateDescriptor} from '../contracts.js'
import type {Runtime} from '../runtime.js'
import {type CiOptions, ciContext} from './ci-context.js'
import {baseContext, type ContextOptions, contextFor, type TemplateContext, withRegistryNode} from './context.js'
import {type TemplateKind, Templates} from './render.js'

export interface TemplateListing {
  kind: TemplateKind
  name: string
  aliases: string[]
  description: string
  plugin: string
  version: string
}

/** The templates of one kind that installed plugins offer (the core's included). */
export async function listTemplates(runtime: Runtime, kind: TemplateKind): Promise<TemplateListing[]> {
  const templates = await Templates.load(runtime.registry)
  return templates.list(kind).map(({descriptor, plugin}) => ({
    aliases: descriptor.aliases ?? [],
    description: descriptor.description,
    kind,
    name: descriptor.name,
    plugin: plugin.name,
    version: plugin.version,
  }))
}

export interface Rendered {
  text: string
  /** True when the text holds store credentials: write it where only root can read it. */
  credentials: boolean
}

/** Renders a bootstrap or packer template with the context built from settings and flags. */
export async function renderTemplate(
  runtime: Runtime,
  kind: TemplateKind,
  name: string,
  options: ContextOptions,
): Promise<Rendered> {
  let base = await baseContext(runtime, options)
  const makeContext = (descriptor: TemplateDescriptor): TemplateContext => contextFor(base, descriptor)
  const templates = await Templates.load(runtime.registry, makeContext, settingsSource(runtime.settings))
  try {
    return {credentials: base.credentials, text: templates.render(kind, name)}
  } catch (error) {
    // Asking the npm registry costs a round trip and needs the network: only for a template that needs Node.js from it.
    const missing = error instanceof SettingsError && (error.details as {missing?: string})?.missing
    if (missing !== 'bootstrap.node_tarballs' || base.node.registry) throw error
    base = await withRegistryNode(runtime, base)
    return {credentials: base.credentials, text: templates.render(kind, name)}
  }
}

/** Renders a CI pipeline template (`pupistry ci init`) with the store, trusted keys and pinned versions. */
export async function renderCiTemplate(runtime: Runtime, name: string, options: CiOptions): Promise<Rendered> {
  const makeContext = await ciContext(runtime, options)
  const templates = await Templates.load(runtime.registry, makeContext, settingsSource(runtime.settings))
  return {credentials: false, text: templates.render('ci', name)}
}

/** Writes a rendered file: mode 0600 before a byte is written when it holds credentials. */
export async function writeRendered(
  file: string,
  rendered: Rendered,
  mode = rendered.credentials ? 0o600 : 0o644,
): Promise<void> {
  const handle = await open(file, 'w', mode)
  try {
    await handle.chmod(mode)
    await handle.writeFile(rendered.text)
  } finally {
    await handle.close()
  }
}
