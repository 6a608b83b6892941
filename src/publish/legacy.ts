import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {BuildCache} from '../build/build-cache.js'
import {SettingsError, StoreError, VerificationError} from '../errors.js'
import type {Runtime} from '../runtime.js'
import {createVerifier, signDetached} from '../signing/signing.js'
import {shortVersion as short} from '../util/version.js'
import {packCombined} from '../legacy/combine.js'
import {
  formatLegacyManifest,
  LEGACY_POINTER,
  type LegacyManifest,
  legacyArtifactName,
  legacyDate,
  legacyManifestName,
  legacyPublicKeyName,
} from '../legacy/layout.js'
import {type LegacyLocation, legacyKey, openLegacyStore, readLegacyPointer} from '../legacy/location.js'
import {currentUserName} from '../util/user.js'

export interface LegacyPushResult {
  version: string
  status: 'published' | 'already-live' | 'not-updated'
  artifactUploaded: boolean
  /** The key of the public key object, when `build.legacy_public_key` asked for one. */
  publicKey?: string
}

/** A key id as the Ruby agent names its public key object: nothing that could leave the prefix. */
const KEY_ID = /^[A-Za-z0-9@._+-]{1,200}$/

/**
 * `build.legacy_layout`: after a push, also publishes the Ruby tool's layout
 * for its agents, in the Ruby tool's order: the artifact, then (only when
 * `build.legacy_public_key` asks) the public key, the versioned manifest, and
 * the pointer last. One artifact carries every environment, so only a push
 * of every built environment's newest build updates it.
 */
export async function publishLegacy(
  runtime: Runtime,
  cache: BuildCache,
  pushed: {environments: string[]; version?: string; refresh?: boolean},
): Promise<LegacyPushResult | undefined> {
  const built = await cache.environments()
  const complete = built.every((environment) => pushed.environments.includes(environment))
  if (pushed.refresh) return undefined
  if (!complete || pushed.version !== undefined) {
    runtime.log.warn(
      'build.legacy_layout: the Ruby layout was not updated: its one artifact carries every environment, so ' +
        'only a push of every built environment (no --environment subset, no --version) updates it',
    )
    return undefined
  }

  const parts = []
  for (const environment of built) {
    const record = await cache.require(environment)
    parts.push({environment, file: cache.artifactPath(environment, record.version)})
  }

  const combined = await packCombined(parts, path.join(cache.root, 'legacy'))
  const artifact = await readFile(combined.file)
  const signed = runtime.settings.general.gpg_disable ? undefined : await signDetached(runtime, artifact)
  const location = await openLegacyStore(runtime, 'build')
  const result: LegacyPushResult = {artifactUploaded: false, status: 'published', version: combined.version}
  if (await isLive(runtime, location, combined.version, artifact, signed?.publicKey)) {
    runtime.log.info(`Ruby layout: ${short(combined.version)} is already live`)
    return {...result, status: 'already-live'}
  }

  const {store} = location
  const artifactKey = legacyKey(location, legacyArtifactName(combined.version))
  const existing = await store.head(artifactKey)
  if (existing?.size !== combined.size) {
    runtime.log.progress(`Uploading ${artifactKey} (${combined.size} bytes)`)
    await store.put(artifactKey, artifact, {contentType: 'application/gzip', size: combined.size})
    result.artifactUploaded = true
  }

  if (runtime.settings.build.legacy_public_key) {
    result.publicKey = await putPublicKey(runtime, location, signed?.publicKey)
  }

  const manifest: LegacyManifest = {
    builduser: currentUserName(),
    date: legacyDate(new Date()),
    signature: signed ? Buffer.from(signed.signature.sig) : undefined,
    version: combined.version,
  }
  const text = Buffer.from(formatLegacyManifest(manifest), 'utf8')
  await store.put(legacyKey(location, legacyManifestName(combined.version)), text, {contentType: 'text/yaml'})
  await store.put(legacyKey(location, LEGACY_POINTER), text, {contentType: 'text/yaml', mutable: true})
  const now = await readLegacyPointer(location)
  if (now?.version !== combined.version) {
    throw new StoreError(
      `the Ruby layout's ${legacyKey(location, LEGACY_POINTER)} at ${store.location} does not read back as ` +
        `version ${combined.version}: is another writer or a stale cache in the way?`,
    )
  }

  runtime.log.info(
    `Ruby layout: published ${short(combined.version)} (${built.join(', ')})` +
      `${signed ? `, signed by ${signed.signedBy.identity} (${signed.signedBy.keyid})` : ', UNSIGNED'}`,
  )
  return result
}

/** Live already: the pointer names this version and is signed by our own key (or both sides are unsigned). */
async function isLive(
  runtime: Runtime,
  location: LegacyLocation,
  version: string,
  artifact: Buffer,
  publicKey: string | undefined,
): Promise<boolean> {
  const live = await readLegacyPointer(location).catch((error) => {
    if (!(error instanceof VerificationError)) throw error
    runtime.log.warn(`Ruby layout: the live pointer is not valid (${error.message}); publishing over it`)
    return undefined
  })
  if (live?.version !== version) return false
  if (!publicKey) return true
  if (!live.signature) return false
  const {verifier} = await createVerifier(runtime)
  const by = await verifier.verify(artifact, {keyid: '', sig: live.signature}, [
    {file: 'the signing key', text: publicKey},
  ])
  return by !== undefined
}

/** Ruby agents import `<gpg_signing_key>.publickey` on first use: written only on request. */
async function putPublicKey(runtime: Runtime, location: LegacyLocation, publicKey?: string): Promise<string> {
  const keyid = runtime.settings.general.gpg_signing_key
  if (keyid === undefined || keyid === null || !KEY_ID.test(String(keyid)) || !publicKey) {
    throw new SettingsError(
      'build.legacy_public_key needs general.gpg_signing_key (the key id Ruby agents have in their settings, ' +
        'letters, digits and @._+- only) and a signing key to export',
    )
  }

  const key = legacyKey(location, legacyPublicKeyName(String(keyid)))
  await location.store.put(key, Buffer.from(publicKey, 'utf8'), {contentType: 'application/pgp-keys'})
  return key
}
