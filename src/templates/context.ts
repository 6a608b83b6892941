import path from 'node:path'

import {stringify} from '../vendor/yaml.js'

import type {StorageDescriptor, TemplateDescriptor} from '../contracts.js'
import {agentSettingsOf, PUPPET_KILL_GRACE_SECONDS} from '../config/agent-settings.js'
import {type Settings, settingsSource} from '../config/settings.js'
import {fromProviderError, SettingsError, SigningError} from '../errors.js'
import {checkEnvironmentName} from '../format/environment.js'
import type {Runtime} from '../runtime.js'
import {createVerifier, loadTrustedKeys} from '../signing/signing.js'
import {storeDescriptor, storeUrl} from '../store/open-store.js'
import {defaultRegistry, NODE_MAJOR, nodeFromRegistry, type RegistryNode} from './node-registry.js'

/** Where a bootstrapped node keeps pupistry's files (docs/templates.md). */
export const NODE_PATHS = {
  appCache: '/var/lib/pupistry',
  bin: '/usr/local/bin/pupistry',
  prefix: '/opt/pupistry',
  settings: '/etc/pupistry/settings.yaml',
  trustedKeys: '/etc/pupistry/trusted-keys',
} as const

export const SCHEDULES = ['daemon', 'timer'] as const
export type Schedule = (typeof SCHEDULES)[number]

/** Beyond agent.stop_timeout and Puppet's kill grace, how long a service manager waits for a stopping daemon. */
export const STOP_MARGIN_SECONDS = 30

export interface Download {
  arch: string
  url: string
  sha256: string
}

/**
 * Everything a template may use, documented in docs/templates.md. Every key
 * is always present (null or empty when unset), so that templates are
 * rendered strictly: a name that is not here is an error, never an empty string.
 */
export interface TemplateContext {
  pupistry: {version: string; plugins: Array<{name: string; version: string}>}
  template: {name: string; description: string}
  environment: string
  schedule: Schedule
  interval_seconds: number
  stop_timeout_seconds: number
  service_stop_seconds: number
  npm_registry: string | null
  puppet: {package: string; repo: {url: string; sha256: string} | null}
  node: {tarballs: Download[]; legacy_tarballs: Download[]; registry: RegistryNodeContext | null}
  paths: {settings: string; trusted_keys: string; prefix: string; bin: string; app_cache: string}
  trusted_keys: Array<{file: string; text: string}>
  settings_yaml: string
  credentials: boolean
  /** build.hieracrypt: the node makes its sealed-hiera key (`node init`) and prints its registry file. */
  sealed_hiera: boolean
}

/** Node.js and npm from the npm registry, pinned at render time (templates that need Node.js and have no tarball). */
export type RegistryNodeContext = RegistryNode & {node_major: number; protocols: string}

export interface ContextOptions {
  environment?: string
  schedule: Schedule
  allowBuildCredentials: boolean
  /** Installed plugins nodes must get too (bundled ones come with pupistry itself). */
  plugins: Array<{name: string; version: string}>
}

/** The part of the context that does not depend on the template. */
export type BaseContext = Omit<TemplateContext, 'template' | 'puppet'> & {
  puppetRepos: Record<string, {url: string; sha256: string}>
  puppetPackage: string
}

export async function baseContext(runtime: Runtime, options: ContextOptions): Promise<BaseContext> {
  const {settings} = runtime
  const agentResolved = agentSettingsOf(settings)
  const environment = checkEnvironmentName(options.environment ?? agentResolved.environment)
  const stores = await nodeStores(runtime)
  const trustedKeys = await nodeTrustedKeys(runtime)
  const credentialKeys = [...new Set(stores.flatMap((store) => store.node?.credentials ?? []))]
  const {credentials, agent} = agentCredentials(settings, credentialKeys, options.allowBuildCredentials)
  const appCache = settings.bootstrap.app_cache ?? NODE_PATHS.appCache
  const fromStores = storeSettings(settings, stores)
  const {general} = settings
  const nodeSettings = {
    general: {
      ...fromStores.general,
      app_cache: appCache,
      trusted_keys: [NODE_PATHS.trustedKeys],
      // The node verifies with this signer's verifier (openpgp when it has none).
      ...(general.signer ? {signer: general.signer} : {}),
      ...(general.gpg_disable ? {gpg_disable: true} : {}),
    },
    agent: {...fromStores.agent, ...agentSettings(settings), ...agent, environment},
  }
  const stopTimeout = agentResolved.stopTimeout
  return {
    credentials,
    environment,
    interval_seconds: agentResolved.interval,
    node: {
      legacy_tarballs: downloads(settings.bootstrap.node_legacy_tarballs),
      registry: null,
      tarballs: downloads(settings.bootstrap.node_tarballs),
    },
    npm_registry: settings.bootstrap.npm_registry ?? null,
    paths: {
      app_cache: appCache,
      bin: NODE_PATHS.bin,
      prefix: NODE_PATHS.prefix,
      settings: NODE_PATHS.settings,
      trusted_keys: NODE_PATHS.trustedKeys,
    },
    pupistry: {plugins: options.plugins, version: runtime.version},
    puppetPackage: settings.bootstrap.puppet_package ?? 'puppet-agent',
    puppetRepos: settings.bootstrap.puppet_repos ?? {},
    schedule: options.schedule,
    sealed_hiera: Boolean(settings.build.hieracrypt),
    service_stop_seconds: stopTimeout + PUPPET_KILL_GRACE_SECONDS + STOP_MARGIN_SECONDS,
    settings_yaml:
      `# Written by pupistry bootstrap (pupistry ${runtime.version}); run the bootstrap ` +
      `again to change it.\n${stringify(nodeSettings, {aliasDuplicateObjects: false, lineWidth: 0})}`,
    stop_timeout_seconds: stopTimeout,
    trusted_keys: trustedKeys,
  }
}

/** The context with Node.js from the npm registry: queried only for a template that needs it. */
export async function withRegistryNode(runtime: Runtime, base: BaseContext): Promise<BaseContext> {
  const registry = runtime.settings.bootstrap.npm_registry ?? (await defaultRegistry())
  const found = await nodeFromRegistry(registry)
  // The pin protects the bytes, so a plain-http registry a user chose (a local mirror) is allowed as npm allows it.
  const protocols = found.registry.startsWith('http://') ? '=http,https' : '=https'
  return {...base, node: {...base.node, registry: {...found, node_major: NODE_MAJOR, protocols}}}
}

/** The full context for one template: the Puppet repository configured for it (by name or alias). */
export function contextFor(base: BaseContext, descriptor: TemplateDescriptor): TemplateContext {
  const {puppetRepos, puppetPackage, ...rest} = base
  const key = [descriptor.name, ...(descriptor.aliases ?? [])].find((name) => puppetRepos[name])
  return {
    ...rest,
    puppet: {package: puppetPackage, repo: key ? puppetRepos[key] : null},
    template: {description: descriptor.description, name: descriptor.name},
  }
}

function downloads(byArch: Record<string, {url: string; sha256: string}> | null | undefined): Download[] {
  return Object.entries(byArch ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([arch, {url, sha256}]) => ({arch, sha256: sha256.toLowerCase(), url}))
}

/** The providers of the stores a node uses: the primary store (manifests are bound to its prefix) and a mirror in agent.storage. */
async function nodeStores(runtime: Runtime): Promise<StorageDescriptor[]> {
  const {agent, general} = runtime.settings
  if (!general.storage && !general.s3_bucket && !agent.storage) {
    const where = settingsSource(runtime.settings)
    throw new SettingsError(
      `no store for nodes in ${where}: set general.storage (or general.s3_bucket, or agent.storage for a mirror)`,
    )
  }

  const primary = general.storage || general.s3_bucket ? storeUrl(runtime, 'build') : undefined
  const urls = [primary, agent.storage ? storeUrl(runtime, 'agent') : undefined]
  return Promise.all(urls.filter((url) => url !== undefined).map((url) => storeDescriptor(runtime, url)))
}

/** The settings each store says nodes need (docs/plugins.md, `node`), general.storage as an absolute URL or path. */
export function storeSettings(
  settings: Settings,
  stores: StorageDescriptor[],
): Record<'general' | 'agent', Record<string, unknown>> {
  const picked: Record<'general' | 'agent', Record<string, unknown>> = {agent: {}, general: {}}
  for (const dotted of stores.flatMap((store) => store.node?.settings ?? [])) {
    const [section, key, ...rest] = dotted.split('.')
    if ((section !== 'general' && section !== 'agent') || !key || rest.length > 0) continue
    const value = (settings[section] as Record<string, unknown>)[key]
    if (value === undefined || value === null) continue
    const plainPath =
      section === 'general' && key === 'storage' && typeof value === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)
    picked[section][key] = plainPath ? path.resolve(value) : value
  }

  return picked
}

/** Agent keys written as they are; credentials are decided separately. */
function agentSettings(settings: Settings): Record<string, unknown> {
  const copied: Record<string, unknown> = {}
  const keys = [
    'storage',
    'allow_insecure_http',
    'puppetcode',
    'releases',
    'keep_releases',
    'puppet',
    'daemon_frequency',
    'daemon_minimal',
    'stop_timeout',
    'region',
  ] as const
  for (const key of keys) {
    const value = settings.agent[key]
    if (value !== undefined && value !== null) copied[key] = value
  }

  if (copied.region === undefined && settings.build.region) copied.region = settings.build.region
  return copied
}

/**
 * Nodes get the agent's credentials for the store (the keys its provider
 * names), never the build side's (which can write the store): with only build
 * credentials, rendering stops unless explicitly allowed. With none at all,
 * nodes use their instance role.
 */
function agentCredentials(
  settings: Settings,
  keys: string[],
  allowBuild: boolean,
): {credentials: boolean; agent: Record<string, string>} {
  const source = settingsSource(settings)
  const set = (side: 'agent' | 'build') => {
    const section = settings[side] as Record<string, unknown>
    const present = keys.filter((key) => typeof section[key] === 'string' && section[key] !== '')
    if (present.length > 0 && present.length < keys.length) {
      const missing = keys.filter((key) => !present.includes(key))
      throw new SettingsError(
        `${side}.${present[0]} is set without ${missing.map((key) => `${side}.${key}`).join(' and ')} in ${source}`,
      )
    }

    return present.length > 0 ? Object.fromEntries(present.map((key) => [key, section[key] as string])) : undefined
  }

  const agent = set('agent')
  const build = set('build')
  const proxy: Record<string, string> = settings.agent.proxy_uri ? {proxy_uri: settings.agent.proxy_uri} : {}
  if (agent) return {agent: {...agent, ...proxy}, credentials: true}
  if (!build) return {agent: proxy, credentials: Boolean(proxy.proxy_uri)}
  if (!allowBuild) {
    throw new SettingsError(
      `only build credentials are set in ${source}: nodes must not get credentials that can write the store`,
      {
        hint:
          `set read-only ${keys.map((key) => `agent.${key}`).join(' and ')}, or remove the build ones to use instance roles, or pass ` +
          '--allow-build-credentials',
      },
    )
  }

  return {agent: {...build, ...proxy}, credentials: true}
}

/** The trusted public keys, inlined into the script: only keys the node's verifier can use, never a secret key. */
export async function nodeTrustedKeys(runtime: Runtime): Promise<Array<{file: string; text: string}>> {
  const keys = loadTrustedKeys(runtime)
  const used = new Set<string>()
  const result = []
  const {name: verifierName, verifier} =
    keys.length > 0 ? await createVerifier(runtime) : {name: '', verifier: undefined}
  for (const {file, text} of keys) {
    let kind
    try {
      kind = verifier?.keyFileKind(text)
    } catch (error) {
      throw fromProviderError(error, `signer ${verifierName}`, SigningError)
    }

    if (kind === 'secret') {
      throw new SettingsError(`general.trusted_keys: ${file} holds a SECRET key; nodes get public keys only`, {
        hint: 'list the output of `pupistry keys export` instead',
      })
    }

    if (kind !== 'public') {
      throw new SettingsError(
        `general.trusted_keys: ${file} holds no public key the ${verifierName} signer's verifier can use`,
      )
    }

    const stem =
      path
        .basename(file)
        .replaceAll(/[^\w.-]/g, '_')
        .replace(/^\.+/, '') || 'key'
    let name = stem
    for (let index = 2; used.has(name); index++) name = `${index}-${stem}`
    used.add(name)
    result.push({file: name, text: text.endsWith('\n') ? text : `${text}\n`})
  }

  if (result.length === 0 && !runtime.settings.general.gpg_disable) {
    throw new SettingsError(
      `general.trusted_keys is not set in ${settingsSource(runtime.settings)}: nodes would refuse every release`,
      {
        hint: 'save the output of `pupistry keys export` to a file and list it in general.trusted_keys',
      },
    )
  }

  return result
}
