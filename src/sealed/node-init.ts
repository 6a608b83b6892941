import {existsSync} from 'node:fs'
import {chmod, mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {stringify} from '../vendor/yaml.js'

import {agentSettingsOf} from '../config/agent-settings.js'
import {UsageError} from '../errors.js'
import type {Runtime} from '../runtime.js'
import {generateNodeKey} from './crypto.js'
import {readFacts} from './facts.js'
import {HIERA_FILE} from './plan.js'
import {NODES_DIR} from './registry.js'
import {sealedNodeSettings} from './node-settings.js'

export interface NodeRegistration {
  certname: string
  fingerprint: string
  /** The registry file to commit, and its path in the control repo. */
  registryFile: string
  registry: string
  keyFile: string
}

/** Facts a hierarchy interpolates: `%{facts.x.y}` and top-scope `%{::x}` (trusted and environment are not facts). */
export function interpolatedFacts(hieraText: string): string[] {
  const names = new Set<string>()
  for (const match of hieraText.matchAll(/%\{\s*(?:facts\.|::)([\w.]+)\s*\}/g)) {
    if (!match[1].startsWith('trusted') && match[1] !== 'environment') names.add(match[1])
  }

  return [...names].sort()
}

/**
 * `pupistry node init`: makes this node's key pair (secret 0600 in a 0700
 * directory), reads the facts its hierarchy needs with facter, and returns
 * the registry file for the control repo. The secret key never leaves the node.
 */
export async function initNode(
  runtime: Runtime,
  options: {certname?: string; facts?: string[]; force?: boolean; environment?: string; facter?: string},
): Promise<NodeRegistration> {
  const settings = sealedNodeSettings(runtime.settings)
  if (existsSync(settings.nodeKeyFile) && !options.force)
    throw new UsageError(`${settings.nodeKeyFile} already exists; use --force to replace it, or \`node rotate\``)
  const {certname, facts} = await nodeFacts(runtime, options)
  const key = await writeNodeKey(settings.nodeKeyFile, certname)
  return registration(certname, {facts, key: key.publicKey}, key.fingerprint, settings.nodeKeyFile)
}

/**
 * `pupistry node rotate`: a next key beside the current one. The registry
 * then lists both (the builder encrypts to both); once the old key is
 * removed there, `node rotate --finish` makes the next key the current one.
 */
export async function rotateNode(
  runtime: Runtime,
  options: {certname?: string; facts?: string[]; finish?: boolean; environment?: string; facter?: string},
): Promise<NodeRegistration> {
  const settings = sealedNodeSettings(runtime.settings)
  if (!existsSync(settings.nodeKeyFile))
    throw new UsageError(`${settings.nodeKeyFile} does not exist: run \`pupistry node init\` first`)
  const {certname, facts} = await nodeFacts(runtime, options)
  if (options.finish) {
    if (!existsSync(settings.nextKeyFile)) throw new UsageError(`no next key to finish with (${settings.nextKeyFile})`)
    await rename(settings.nextKeyFile, settings.nodeKeyFile)
    const {publicKey, fingerprint} = await publicOf(settings.nodeKeyFile)
    return registration(certname, {facts, key: publicKey}, fingerprint, settings.nodeKeyFile)
  }

  if (existsSync(settings.nextKeyFile))
    throw new UsageError(`a rotation is under way already (${settings.nextKeyFile})`)
  const current = await publicOf(settings.nodeKeyFile)
  const next = await writeNodeKey(settings.nextKeyFile, certname)
  return registration(
    certname,
    {facts, key: current.publicKey, next_key: next.publicKey},
    current.fingerprint,
    settings.nextKeyFile,
  )
}

async function publicOf(file: string): Promise<{publicKey: string; fingerprint: string}> {
  const {readPrivateKey} = await import('openpgp')
  const key = await readPrivateKey({armoredKey: await readFile(file, 'utf8')})
  return {fingerprint: key.getFingerprint().toUpperCase(), publicKey: key.toPublic().armor()}
}

async function writeNodeKey(file: string, certname: string) {
  const key = await generateNodeKey(`pupistry node ${certname}`)
  await mkdir(path.dirname(file), {mode: 0o700, recursive: true})
  await chmod(path.dirname(file), 0o700)
  await writeFile(`${file}.tmp`, key.secretKey, {mode: 0o600})
  await rename(`${file}.tmp`, file)
  return key
}

/** The certname (as Puppet names the node) and the facts the active release's hierarchy interpolates. */
async function nodeFacts(
  runtime: Runtime,
  options: {certname?: string; facts?: string[]; environment?: string; facter?: string},
): Promise<{certname: string; facts: Record<string, unknown>}> {
  const agent = agentSettingsOf(runtime.settings)
  const environment = options.environment ?? agent.environment
  const hiera = await readFile(path.join(agent.puppetcode, environment, HIERA_FILE), 'utf8').catch(() => '')
  const names = [...new Set([...interpolatedFacts(hiera), ...(options.facts ?? [])])].sort()
  const live = await readFacts([...names, 'networking.fqdn'], options.facter)
  const certname = (options.certname ?? String(live['networking.fqdn'] ?? '')).toLowerCase()
  if (!certname) throw new UsageError("facter does not know this node's fqdn: give --certname")
  const facts: Record<string, unknown> = {}
  for (const name of names) {
    if (live[name] === undefined || live[name] === null) {
      runtime.log.warn(`facter has no value for ${name}; add it to the registry file by hand`)
      continue
    }

    setDotted(facts, name.split('.'), live[name])
  }

  return {certname, facts}
}

function setDotted(target: Record<string, unknown>, parts: string[], value: unknown): void {
  let current = target
  for (const part of parts.slice(0, -1)) {
    current[part] ??= {}
    current = current[part] as Record<string, unknown>
  }

  current[parts[parts.length - 1]] = value
}

function registration(
  certname: string,
  entry: {key: string; next_key?: string; facts: Record<string, unknown>},
  fingerprint: string,
  keyFile: string,
): NodeRegistration {
  const registryFile = `${NODES_DIR}/${certname}.yaml`
  const registry =
    `# ${registryFile}: made by \`pupistry node init\` on ${certname} (key ${fingerprint})\n` +
    stringify({certname, ...entry}, {lineWidth: 0})
  return {certname, fingerprint, keyFile, registry, registryFile}
}
