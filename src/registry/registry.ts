import path from 'node:path'

import {
  type AssemblerDescriptor,
  CONTRACT_VERSION,
  OLDEST_CONTRACT_VERSION,
  type ProviderKind,
  type StorageDescriptor,
  type TemplateDescriptor,
} from '../contracts.js'
import {UsageError} from '../errors.js'
import {adaptContract1, type CoreSignerDescriptor} from './contract1.js'
import {byCodeUnit} from '../util/compare.js'

export interface DescriptorsByKind {
  assemblers: AssemblerDescriptor
  storage: StorageDescriptor
  signers: CoreSignerDescriptor
  templates: TemplateDescriptor
}

/** Who answered a hook: the plugin's name, version and how it was installed. */
export interface PluginInfo {
  name: string
  version: string
  /** oclif's plugin type: `core` for the CLI and bundled plugins, `user` or `link` for installed ones. */
  type: string
}

export interface Registered<K extends ProviderKind> {
  descriptor: DescriptorsByKind[K]
  plugin: PluginInfo
}

/** What `config.runHook` returns, reduced to what the registry needs. */
export interface HookOutcome {
  successes: Array<{plugin: PluginInfo; result: unknown}>
  failures: Array<{plugin: PluginInfo; error: Error}>
}

export type RunHook = (event: string) => Promise<HookOutcome>

/** Plugins that ship a provider which is not bundled, so a missing one can be named. */
export const KNOWN_PLUGINS: Record<ProviderKind, Record<string, string>> = {
  assemblers: {librarian: '@pupistry/librarian', r10k: '@pupistry/r10k'},
  signers: {gpg: '@pupistry/gpg', openpgp: '@pupistry/openpgp'},
  storage: {s3: '@pupistry/s3'},
  templates: {},
}

export const PROVIDER_KINDS: ProviderKind[] = ['assemblers', 'storage', 'signers', 'templates']

const KIND_LABEL: Record<ProviderKind, string> = {
  assemblers: 'assembler',
  signers: 'signer',
  storage: 'storage provider',
  templates: 'template',
}

/**
 * Gathers the providers that plugins offer through the four hook events.
 * A plugin that fails or answers nonsense is reported once and skipped; the
 * rest keep working. When two plugins offer the same name, the CLI's own
 * and bundled plugins win over installed ones, then the first plugin by name.
 */
export class ProviderRegistry {
  readonly warnings: string[] = []
  /** Providers refused for their contract version, so selecting one says why it is missing. */
  private readonly refused = new Map<string, {message: string; hint: string}>()
  private readonly cache = new Map<ProviderKind, Promise<Array<Registered<ProviderKind>>>>()

  constructor(private readonly runHook: RunHook) {}

  async list<K extends ProviderKind>(kind: K): Promise<Array<Registered<K>>> {
    let pending = this.cache.get(kind)
    if (!pending) {
      pending = this.gather(kind)
      this.cache.set(kind, pending)
    }

    return (await pending) as Array<Registered<K>>
  }

  async get<K extends ProviderKind>(kind: K, name: string): Promise<Registered<K>> {
    const found = (await this.list(kind)).find(
      (entry) => entry.descriptor.name === name || aliasesOf(entry).includes(name),
    )
    if (found) return found
    const refusal = this.refused.get(`${kind}:${name}`)
    if (refusal) throw new UsageError(refusal.message, {hint: refusal.hint})
    const plugin = KNOWN_PLUGINS[kind][name]
    const available = (await this.list(kind)).map((entry) => entry.descriptor.name).join(', ') || 'none'
    throw new UsageError(`no ${KIND_LABEL[kind]} named "${name}" is installed (available: ${available})`, {
      hint: plugin ? `run \`pupistry plugins install ${plugin}\`` : 'see `pupistry providers` for what is installed',
    })
  }

  /** Every settings key (dotted path) that some installed provider says it reads. */
  async declaredSettings(): Promise<Set<string>> {
    const declared = new Set<string>()
    for (const kind of PROVIDER_KINDS) {
      for (const {descriptor} of await this.list(kind)) for (const key of descriptor.settings ?? []) declared.add(key)
    }

    return declared
  }

  private async gather(kind: ProviderKind): Promise<Array<Registered<ProviderKind>>> {
    const outcome = await this.runHook(`pupistry:${kind}`)
    for (const failure of outcome.failures) {
      this.warnings.push(`plugin ${failure.plugin.name} failed to answer pupistry:${kind}: ${failure.error.message}`)
    }

    const entries: Array<Registered<ProviderKind>> = []
    for (const success of outcome.successes) {
      if (success.result === undefined || success.result === null) continue
      if (!Array.isArray(success.result)) {
        this.warnings.push(
          `plugin ${success.plugin.name} answered pupistry:${kind} with something other than a list of providers; ignored`,
        )
        continue
      }

      for (const descriptor of success.result) {
        // The contract comes first: a descriptor of another contract may well have another shape.
        const contract = hasName(descriptor) ? contractProblem(kind, descriptor, success.plugin) : undefined
        if (contract) {
          // Stores are chosen by URL scheme, the others by name.
          const schemes =
            kind === 'storage' && Array.isArray(descriptor.schemes) ? (descriptor.schemes as unknown[]) : []
          for (const key of [descriptor.name, ...schemes]) this.refused.set(`${kind}:${String(key)}`, contract)
          this.warnings.push(`${contract.message}; ignored`)
          continue
        }

        const problem = descriptorProblem(kind, descriptor)
        if (problem) {
          this.warnings.push(`plugin ${success.plugin.name}: ${problem}; ignored`)
          continue
        }

        entries.push({
          descriptor: adaptContract1(kind, descriptor as DescriptorsByKind[ProviderKind]),
          plugin: success.plugin,
        })
      }
    }

    entries.sort((a, b) => rank(a.plugin) - rank(b.plugin) || byCodeUnit(a.plugin.name, b.plugin.name))
    const kept: Array<Registered<ProviderKind>> = []
    for (const entry of entries) {
      const clash = kept.find((other) => slotsOf(kind, other).some((slot) => slotsOf(kind, entry).includes(slot)))
      if (clash) {
        const same = clash.descriptor.name === entry.descriptor.name
        this.warnings.push(
          same
            ? `${KIND_LABEL[kind]} "${entry.descriptor.name}" is offered by both ${clash.plugin.name} and ` +
                `${entry.plugin.name}; using ${clash.plugin.name}`
            : `${KIND_LABEL[kind]} "${entry.descriptor.name}" of ${entry.plugin.name} clashes with the ` +
                `names of "${clash.descriptor.name}" of ${clash.plugin.name}; using ${clash.plugin.name}`,
        )
        continue
      }

      kept.push(entry)
    }

    return kept.sort((a, b) => byCodeUnit(a.descriptor.name, b.descriptor.name))
  }
}

/**
 * The names a provider answers to, for clashes: a template's aliases count,
 * and templates are per kind (a partial may share a bootstrap template's name).
 */
function slotsOf(kind: ProviderKind, entry: Registered<ProviderKind>): string[] {
  if (kind !== 'templates') return [entry.descriptor.name]
  const {kind: templateKind} = entry.descriptor as TemplateDescriptor
  return [entry.descriptor.name, ...aliasesOf(entry)].map((name) => `${templateKind}:${name}`)
}

function aliasesOf(entry: Registered<ProviderKind>): string[] {
  return 'aliases' in entry.descriptor ? (entry.descriptor.aliases ?? []) : []
}

function rank(plugin: PluginInfo): number {
  return plugin.name === 'pupistry' ? 0 : plugin.type === 'core' ? 1 : 2
}

/**
 * The contract rule: a provider is used only if its descriptor states a
 * contract version this pupistry speaks (older ones are adapted). A plugin
 * older than that calls methods differently, and a newer one may rely on what
 * this core does not do yet.
 */
function contractProblem(
  kind: ProviderKind,
  descriptor: {name: string; contract?: unknown},
  plugin: PluginInfo,
): {message: string; hint: string} | undefined {
  const stated = descriptor.contract
  const known = typeof stated === 'number' && Number.isInteger(stated)
  if (known && stated >= OLDEST_CONTRACT_VERSION && stated <= CONTRACT_VERSION) return undefined
  const what = `${KIND_LABEL[kind]} "${descriptor.name}" of plugin ${plugin.name}@${plugin.version}`
  const spoken = `this pupistry speaks contracts ${OLDEST_CONTRACT_VERSION} to ${CONTRACT_VERSION}`
  const message = known
    ? `${what} was written for plugin contract ${stated}, but ${spoken}`
    : `${what} does not state the plugin contract it was written for (${spoken})`
  const hint =
    known && stated > CONTRACT_VERSION
      ? `upgrade pupistry, or install a version of ${plugin.name} made for contract ${CONTRACT_VERSION}`
      : `upgrade the plugin: \`pupistry plugins install ${plugin.name}\` (or ask its author for a version ` +
        `made for contract ${CONTRACT_VERSION})`
  return {hint, message}
}

function hasName(value: unknown): value is {name: string; contract?: unknown; schemes?: unknown} {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as {name?: unknown}).name === 'string' &&
    (value as {name: string}).name !== ''
  )
}

function descriptorProblem(kind: ProviderKind, value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return `a ${KIND_LABEL[kind]} descriptor is not an object`
  const descriptor = value as Record<string, unknown>
  const name = typeof descriptor.name === 'string' && descriptor.name ? descriptor.name : undefined
  if (!name) return `a ${KIND_LABEL[kind]} descriptor has no name`
  if (kind === 'templates') {
    if (!['bootstrap', 'packer', 'ci', 'partial'].includes(descriptor.kind as string))
      return `template "${name}" has no kind bootstrap, packer, ci or partial`
    const {aliases} = descriptor
    if (
      aliases !== undefined &&
      !(Array.isArray(aliases) && aliases.every((alias) => typeof alias === 'string' && alias))
    ) {
      return `template "${name}" has aliases that are not a list of names`
    }

    return typeof descriptor.path === 'string' && path.isAbsolute(descriptor.path)
      ? undefined
      : `template "${name}" has no absolute path`
  }

  if (kind === 'signers' && descriptor.contract !== 1) {
    const factories = [descriptor.createSigner, descriptor.createVerifier].filter((factory) => factory !== undefined)
    const usable = factories.length > 0 && factories.every((factory) => typeof factory === 'function')
    return usable ? undefined : `signer "${name}" has no createSigner or createVerifier function`
  }

  if (typeof descriptor.create !== 'function') return `${KIND_LABEL[kind]} "${name}" has no create function`
  if (kind === 'storage' && !Array.isArray(descriptor.schemes)) return `storage provider "${name}" lists no URL schemes`
  return undefined
}
