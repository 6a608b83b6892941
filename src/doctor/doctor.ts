import {randomBytes} from 'node:crypto'
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

import {agentChannel} from '../agent/apply.js'
import type {IncompleteWrite, Side, Store} from '../contracts.js'
import {agentSettingsOf, puppetCommand} from '../config/agent-settings.js'
import {AssemblerError, fromProviderError, SettingsError, StoreError, ToolError} from '../errors.js'
import {LAYOUT_ROOT, pointerKey} from '../format/layout.js'
import {manifestOf} from '../format/manifest.js'
import {readLimited, readPointer} from '../format/pointer.js'
import {providerContext, type Runtime} from '../runtime.js'
import {createSigner, loadTrustedKeys, signingProviderName, verifyEnvelope} from '../signing/signing.js'
import {openStore, storeUrl} from '../store/open-store.js'
import {currentUserName} from '../util/user.js'

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface Check {
  name: string
  status: CheckStatus
  detail: string
  /** The exit code the failure stands for (documented in docs/exit-codes.md). */
  exitCode?: number
}

/**
 * Looks at this machine's pupistry as a whole: settings, tools, keys and the
 * store, each with the credentials of the side that uses them. Checks run in
 * order; a failed check does not stop the others.
 */
export async function doctor(runtime: Runtime): Promise<Check[]> {
  const {settings} = runtime
  const checks: Check[] = [
    settings.warnings.length > 0
      ? {detail: `${settingsName(runtime)}: ${settings.warnings.join('; ')}`, name: 'settings', status: 'warn'}
      : {detail: `${settingsName(runtime)} is valid`, name: 'settings', status: 'ok'},
  ]
  const build = Boolean(settings.build.puppetcode)
  const agent = Boolean(
    settings.general.trusted_keys ||
      Object.values(settings.agent).some((value) => value !== undefined && value !== null),
  )
  if (!build && !agent) {
    checks.push({
      detail:
        'the settings configure neither a build machine (build.puppetcode) nor a node (agent.*, general.trusted_keys)',
      exitCode: 10,
      name: 'role',
      status: 'fail',
    })
    return checks
  }

  const run = async (name: string, check: () => Promise<Omit<Check, 'name'>>) => {
    const {detail, exitCode, status} = await check().catch(failed)
    checks.push({detail, exitCode, name, status})
  }
  if (build) {
    await run('assembler', () => checkAssembler(runtime))
    await run('signing key', () => checkSigningKey(runtime))
    await run('store (build)', () => checkBuildStore(runtime))
    await run('unfinished uploads', () => checkIncomplete(runtime))
  }

  if (agent) {
    if (settings.agent.legacy_store) await run('legacy store', () => checkLegacyStore(runtime))
    await run('trusted keys', async () => checkTrustedKeys(runtime))
    await run('puppet', () => checkPuppet(runtime))
    const store = await openStore(runtime, 'agent').catch((error: unknown) => error as Error)
    if (store instanceof Error) {
      await run('store (agent)', async () => failed(store))
    } else {
      await run('store (agent)', () => checkAgentStore(runtime, store))
      await run('least privilege', () => checkAgentCannotWrite(runtime, store))
      await run('exposure', () => checkExposure(runtime, store))
    }
  }

  return checks
}

function failed(error: unknown): Omit<Check, 'name'> {
  const converted = fromProviderError(error, 'check')
  return {detail: converted.message, exitCode: converted.exitCode, status: 'fail'}
}

function settingsName(runtime: Runtime): string {
  return runtime.settings.file ?? 'the built-in defaults (no settings file found)'
}

async function checkAssembler(runtime: Runtime): Promise<Omit<Check, 'name'>> {
  const name = runtime.settings.build.assembler ?? 'r10k'
  const {descriptor, plugin} = await runtime.registry.get('assemblers', name)
  const assembler = await Promise.resolve(descriptor.create(providerContext(runtime, 'build', descriptor.name))).catch(
    (error) => {
      throw fromProviderError(error, `assembler ${name}`, AssemblerError)
    },
  )
  const versions = await assembler.versions?.().catch((error) => {
    throw fromProviderError(error, `assembler ${name}`, ToolError)
  })
  const tools = Object.entries(versions ?? {}).map(([tool, version]) => `${tool} ${version}`)
  return {
    detail: `${name} (from ${plugin.name} ${plugin.version})${tools.length > 0 ? `: ${tools.join(', ')}` : ''}`,
    status: 'ok',
  }
}

async function checkSigningKey(runtime: Runtime): Promise<Omit<Check, 'name'>> {
  if (runtime.settings.general.gpg_disable)
    return {detail: 'general.gpg_disable is true: pushes are UNSIGNED', status: 'warn'}
  const name = signingProviderName(runtime)
  const signer = await createSigner(runtime, name, 'build')
  if (!signer.publicKey) return {detail: `signer ${name} cannot show its key; it is used as configured`, status: 'ok'}
  const armored = await signer.publicKey()
  return {detail: `signer ${name}: the key loads (${armored.length} bytes of public key to give nodes)`, status: 'ok'}
}

const PROBE_PREFIX = `${LAYOUT_ROOT}/.doctor/`
const STALE_PROBE_MS = 3_600_000

function probeKey(): string {
  // Not an environment name, so never taken for one, and outside what prune removes.
  return `${PROBE_PREFIX}probe-${randomBytes(6).toString('hex')}`
}

/** Removes a probe; says which object was left behind when that is not allowed. */
async function removeProbe(store: Store, key: string): Promise<string | undefined> {
  try {
    await store.delete(key)
    return undefined
  } catch (error) {
    return `the probe ${store.location}${key} could not be deleted (${(error as Error).message}); remove it by hand`
  }
}

/** Probes an earlier doctor could not delete (or was killed before deleting), once they are an hour old. */
async function sweepProbes(store: Store): Promise<void> {
  const stale = (await store.list(PROBE_PREFIX)).filter(
    (object) =>
      /\/probe-[0-9a-f]{12}$/.test(object.key) &&
      object.modified &&
      Date.now() - object.modified.getTime() > STALE_PROBE_MS,
  )
  for (const object of stale) await store.delete(object.key)
}

/**
 * Uploads interrupted pushes left under our layout: on S3 an incomplete
 * multipart upload is kept, and billed, until it is aborted. A warning,
 * since `prune` removes them and a push may be writing one right now.
 */
async function checkIncomplete(runtime: Runtime): Promise<Omit<Check, 'name'>> {
  const store = await openStore(runtime, 'build')
  if (!store.incomplete) return {detail: `${store.location} cannot list unfinished uploads`, status: 'ok'}
  let writes: IncompleteWrite[]
  try {
    writes = await store.incomplete(`${LAYOUT_ROOT}/`)
  } catch (error) {
    return {
      detail: `cannot list the unfinished uploads in ${store.location}: ${(error as Error).message}`,
      status: 'warn',
    }
  }

  if (writes.length === 0) return {detail: `no unfinished uploads in ${store.location}`, status: 'ok'}
  const oldest = writes
    .map((write) => write.started?.toISOString())
    .filter(Boolean)
    .sort()[0]
  return {
    detail:
      `${writes.length} unfinished upload(s) in ${store.location} (${writes
        .map((write) => write.key)
        .slice(0, 3)
        .join(', ')}` +
      `${oldest ? `; the oldest began ${oldest}` : ''}), left by interrupted pushes: \`pupistry prune\` removes those ` +
      'older than its grace period (on S3, a lifecycle rule AbortIncompleteMultipartUpload does too)',
    status: 'warn',
  }
}

/** The Ruby tool read back what it uploaded; here a probe goes up, comes back identical, and is removed. */
async function checkBuildStore(runtime: Runtime): Promise<Omit<Check, 'name'>> {
  const store = await openStore(runtime, 'build')
  await sweepProbes(store)
  const key = probeKey()
  const bytes = randomBytes(64)
  await store.put(key, bytes, {contentType: 'application/octet-stream'})
  let problem: string | undefined
  try {
    const back = await store.get(key)
    if (!back || 'notModified' in back) problem = `${store.location}${key} was written but cannot be read back`
    else if (!(await readLimited(back.body, 1024, key)).equals(bytes))
      problem = `${store.location}${key} reads back different bytes`
  } finally {
    const leftover = await removeProbe(store, key)
    problem ??=
      leftover &&
      `${describeCredentials(runtime, 'build')} can write and read back, but ${leftover}; prune needs to delete too`
  }

  if (problem) return {detail: problem, exitCode: 13, status: 'fail'}
  return {
    detail: `${describeCredentials(runtime, 'build')} can write, read back and delete in ${store.location}`,
    status: 'ok',
  }
}

/** agent.legacy_store is a bridge with fewer defences: always a warning, with what the Ruby pointer offers. */
async function checkLegacyStore(runtime: Runtime): Promise<Omit<Check, 'name'>> {
  const {LEGACY_POINTER} = await import('../legacy/layout.js')
  const {legacyKey, legacyStoreWarning, openLegacyStore, readLegacyPointer} = await import('../legacy/location.js')
  const location = await openLegacyStore(runtime, 'agent')
  const where = `${location.store.location} ${legacyKey(location, LEGACY_POINTER)}`
  const live = await readLegacyPointer(location)
  const offers = live
    ? `it offers version ${live.version}, ${live.signature ? 'signed' : 'UNSIGNED'}`
    : 'nothing is published there yet'
  return {detail: `${legacyStoreWarning(where)}; ${offers}`, status: 'warn'}
}

function checkTrustedKeys(runtime: Runtime): Omit<Check, 'name'> {
  if (runtime.settings.general.gpg_disable)
    return {detail: 'general.gpg_disable is true: this node accepts UNSIGNED manifests', status: 'warn'}
  const files = loadTrustedKeys(runtime)
  if (files.length === 0)
    throw new SettingsError(
      'no trusted keys: set general.trusted_keys to the public key files nodes accept signatures from',
    )
  return {detail: `${files.length} trusted key file(s): ${files.map((file) => file.file).join(', ')}`, status: 'ok'}
}

async function checkPuppet(runtime: Runtime): Promise<Omit<Check, 'name'>> {
  const command = puppetCommand(runtime.settings)
  try {
    const {stdout} = await promisify(execFile)(command, ['--version'], {timeout: 60_000})
    return {detail: `${command} ${stdout.trim()}`, status: 'ok'}
  } catch (error) {
    throw new ToolError(`${command} does not run: ${(error as Error).message.split('\n')[0]}`, {
      hint: 'install Puppet (or OpenVox), or set agent.puppet',
    })
  }
}

async function checkAgentStore(runtime: Runtime, store: Store): Promise<Omit<Check, 'name'>> {
  const {environment} = agentSettingsOf(runtime.settings)
  const channel = agentChannel(runtime)
  const pointer = await readPointer(store, environment, {channel})
  if (!pointer || 'notModified' in pointer)
    return {
      detail: `${describeCredentials(runtime, 'agent')} can reach ${store.location}, but nothing is published for ${environment} yet`,
      status: 'warn',
    }
  const trust = await verifyEnvelope(runtime, pointer.envelope, pointer.where, channel)
  const manifest = manifestOf(pointer.envelope, pointer.where)
  const artifact = await store.head(manifest.artifact.key)
  if (!artifact)
    return {
      detail: `${environment} serial ${manifest.serial} names ${manifest.artifact.key}, which is missing from ${store.location}`,
      exitCode: 13,
      status: 'fail',
    }
  const signed = trust.signed ? `signed by ${trust.by.identity}` : 'UNSIGNED'
  return {
    detail:
      `${describeCredentials(runtime, 'agent')} can read ${environment} serial ${manifest.serial} ` +
      `(${signed}) and its artifact from ${store.location}`,
    status: 'ok',
  }
}

/** Nodes only need to read: credentials that can write let one stolen node delete or replace what every node reads. */
async function checkAgentCannotWrite(runtime: Runtime, store: Store): Promise<Omit<Check, 'name'>> {
  const scheme = storeUrl(runtime, 'agent').protocol
  if (scheme === 'file:')
    return {detail: 'the file store has no credentials; file permissions decide who may write', status: 'skip'}
  if (scheme === 'https:' || scheme === 'http:')
    return {detail: `${store.location} is a read-only mirror`, status: 'ok'}
  const key = probeKey()
  try {
    await store.put(key, Buffer.from('pupistry doctor: agent write probe\n'))
  } catch (error) {
    const who = describeCredentials(runtime, 'agent')
    if (isAccessDenied(error))
      return {detail: `${who} cannot write to ${store.location} (${(error as Error).message})`, status: 'ok'}
    return {
      detail: `could not tell whether ${who} can write: the write probe failed for another reason (${(error as Error).message})`,
      status: 'warn',
    }
  }

  const leftover = await removeProbe(store, key)
  return {
    detail:
      `${describeCredentials(runtime, 'agent')} can WRITE to ${store.location}: give nodes ` +
      `read-only credentials (signatures still protect them, but a stolen node key could delete what the ` +
      `fleet reads)${leftover ? `; ${leftover}` : ''}`,
    status: 'warn',
  }
}

/** A refusal by the store, as it reports it (reason `denied`), as opposed to a network or server failure. */
function isAccessDenied(error: unknown): boolean {
  return error instanceof StoreError && error.reason === 'denied'
}

async function checkExposure(runtime: Runtime, store: Store): Promise<Omit<Check, 'name'>> {
  if (!store.exposure)
    return {
      detail: `the ${storeUrl(runtime, 'agent').protocol.replace(/:$/, '')} store cannot tell who may read it; check by hand`,
      status: 'skip',
    }
  const exposure = await store.exposure(pointerKey(agentSettingsOf(runtime.settings).environment))
  const status = exposure.status === 'private' ? 'ok' : 'warn'
  const note =
    exposure.status === 'exposed'
      ? ' — artifacts carry hiera data: make the store private'
      : exposure.status === 'unknown'
        ? ' — check who can read it by hand'
        : ''
  return {detail: `${exposure.detail}${note}`, status}
}

function describeCredentials(runtime: Runtime, side: Side): string {
  if (storeUrl(runtime, side).protocol === 'file:') return `this user (${currentUserName()})`
  const section = runtime.settings[side] as {access_key_id?: string | null}
  return section.access_key_id
    ? `the ${side} credentials (access key ${section.access_key_id})`
    : `the ${side} side's default credentials`
}
