/**
 * The plugin contracts: what a plugin returns from the four pupistry hook
 * events. Plugins import these as types only (the core is their peer
 * dependency), so nothing here may need runtime code from the core.
 */
import type {Readable} from 'node:stream'

/**
 * Bumped whenever a descriptor or provider interface changes incompatibly.
 * Every descriptor states the version it was written for (as a number in
 * the plugin's code). The core speaks every version from
 * OLDEST_CONTRACT_VERSION to CONTRACT_VERSION (adapting older descriptors)
 * and refuses the rest. docs/plugins.md says what changed between them.
 */
export const CONTRACT_VERSION = 2

/** The oldest contract whose descriptors the core still adapts and uses. */
export const OLDEST_CONTRACT_VERSION = 1

/** Settings as the provider sees them: the parsed settings.yaml sections. */
export interface ProviderSettings {
  general: Record<string, unknown>
  agent: Record<string, unknown>
  build: Record<string, unknown>
}

/** Which side of the fleet is running: credentials and defaults differ. */
export type Side = 'build' | 'agent'

export interface ProviderLogger {
  info(message: string): void
  warn(message: string): void
  /** Progress lines (r10k output, transfers): shown on a TTY, quiet in a pipe unless verbose. */
  progress(message: string): void
}

export interface ProviderContext {
  settings: ProviderSettings
  side: Side
  /** Local cache directory for this provider (created on demand by the provider). */
  cacheDir: string
  log: ProviderLogger
  /** Asks the user for a secret on a TTY; undefined when there is no TTY. */
  askSecret(question: string): Promise<string | undefined>
}

/**
 * Kinds of failure a provider can report so the core shows one clear
 * message with the right exit code: throw an Error whose `kind` is one of these.
 */
export type ProviderErrorKind =
  | 'settings' // the provider's settings are wrong or missing
  | 'tool' // an external program is missing or unusable
  | 'assembler' // the assembler ran but failed (bad Puppetfile, remote unreachable)
  | 'store' // the store failed (unreachable, denied, ...)
  | 'signing' // a key could not be read or a signature not made

/**
 * Why a store operation failed, so the core can act on it without reading
 * store-specific error shapes: the agent's daemon backs off only on
 * `unreachable`, doctor counts `denied` writes as least privilege, push
 * retries a create-only write on `conflict`.
 */
export type ProviderErrorReason =
  | 'denied' // the store refused these credentials (401/403, file permissions)
  | 'conflict' // a create-only write found the key already there
  | 'unreachable' // no answer: network down, timeout, server unavailable, share not mounted
  | 'not found' // the store itself (a bucket, a root directory) does not exist
  | 'invalid' // the request or the store's settings are wrong (another region, a bad key)

export interface ProviderError extends Error {
  kind: ProviderErrorKind
  /** Contract 2: why it failed, where the provider can tell. */
  reason?: ProviderErrorReason
}

interface DescriptorBase {
  /** The contract version this descriptor was written for (CONTRACT_VERSION). */
  contract: number
  name: string
  description: string
  /** Settings keys (dotted paths) this provider reads, for listings and docs. */
  settings?: string[]
}

// ---------------------------------------------------------------- assemblers

export interface AssembledEnvironment {
  /** Environment name, as Puppet will know it (r10k's corrected branch name). */
  name: string
  /** Directory holding the complete environment tree. */
  path: string
  /** Source commit of the control repo, when known. */
  commit?: string
  /** Resolved modules: module name → ref or commit. */
  modules: Record<string, string>
}

export interface AssembleOptions {
  /** Only these environments; all branches when absent. */
  environments?: string[]
}

export interface Assembler {
  assemble(options: AssembleOptions): Promise<AssembledEnvironment[]>
  /** Tool versions to record in manifests, e.g. {r10k: '3.15.4'}. */
  versions?(): Promise<Record<string, string>>
}

export interface AssemblerDescriptor extends DescriptorBase {
  create(context: ProviderContext): Assembler | Promise<Assembler>
}

// ------------------------------------------------------------------- storage

export interface StoredObject {
  body: Readable
  /** Change tag for conditional reads. */
  etag: string
  size: number
}

export interface GetOptions {
  /** Return {notModified: true} when the object's tag still equals this. */
  ifNoneMatch?: string
  /** The object is rewritten in place (a pointer): read it from the origin, never from a cache. */
  mutable?: boolean
}

export type GetResult = StoredObject | {notModified: true} | undefined

export interface PutOptions {
  /** Fail, atomically, with an error of reason `conflict` if the key exists. */
  createOnly?: boolean
  /**
   * The object is rewritten in place (an environment's pointer): readers and
   * caches must not keep a copy (S3: `Cache-Control: no-cache`). Everything
   * else the core writes is immutable, content-addressed or create-only.
   */
  mutable?: boolean
  /** Size in bytes when known: lets a store choose multipart uploads. */
  size?: number
  contentType?: string
}

export interface ObjectInfo {
  key: string
  size: number
  etag: string
  /**
   * When the object was last written. `list` should always set it: prune
   * deletes an unneeded artifact only once it is older than its grace period,
   * and keeps (saying so) what it cannot date. `head` may leave it out.
   */
  modified?: Date
}

/** Who besides the credential holders can read a store, as far as it can tell. */
export interface Exposure {
  /** private: only credentials read it; exposed: anyone (or every local user) can; unknown: the store would not say. */
  status: 'private' | 'exposed' | 'unknown'
  detail: string
}

export interface Store {
  /** Human description for messages, without secrets: `file:///srv/pupistry`. */
  readonly location: string
  /**
   * The logical prefix this store was configured with (an S3 key prefix), or
   * '' where the location alone names the store. Manifests are bound to it.
   */
  readonly prefix: string
  get(key: string, options?: GetOptions): Promise<GetResult>
  put(key: string, body: Readable | Uint8Array, options?: PutOptions): Promise<{etag: string}>
  head(key: string): Promise<ObjectInfo | undefined>
  /** Every key below the prefix (recursively). */
  list(prefix: string): Promise<ObjectInfo[]>
  delete(key: string): Promise<void>
  /**
   * Optional: can anyone without credentials read this store? `sampleKey`
   * names an object known to exist, to try reading it anonymously.
   */
  exposure?(sampleKey?: string): Promise<Exposure>
}

/** What a node needs to reach a store: `pupistry bootstrap` copies these into the node's settings. */
export interface NodeSettings {
  /** Settings keys (dotted paths, `general.s3_bucket`) copied as they are when set. */
  settings: string[]
  /**
   * Credential keys of a side's section (`access_key_id`): a node gets the
   * `agent.` ones, or with --allow-build-credentials the `build.` ones,
   * written as `agent.` keys. Set together or not at all.
   */
  credentials?: string[]
}

export interface StorageDescriptor extends DescriptorBase {
  /** URL schemes this store handles: ['file'], ['s3'] ... */
  schemes: string[]
  create(url: URL, context: ProviderContext): Store | Promise<Store>
  /** Contract 2: what bootstrap gives nodes so they can reach this store (none beyond `general.storage` when absent). */
  node?: NodeSettings
  /**
   * Contract 2: the `prefix` a store made for this URL would have, without
   * making one (no credentials, no network). A node reading a mirror binds
   * manifests to the primary store's prefix through this.
   */
  prefixOf?(url: URL, settings: ProviderSettings): string
}

// ------------------------------------------------------------------- signers

export interface Signature {
  /** Identifies the key: an OpenPGP fingerprint (hex, upper case) or the signer's own form. */
  keyid: string
  /** Detached signature bytes. */
  sig: Uint8Array
}

/** A file of trusted public keys, read by the core (which checks who may write it). */
export interface TrustedKeyFile {
  file: string
  text: string
}

export interface VerifiedSignature {
  keyid: string
  /** Human-readable identity of the trusted key (user id). */
  identity: string
}

export interface GeneratedKey {
  /** Armoured secret key, to keep on the build side only. */
  secretKey: string
  /** Armoured public key, for nodes. */
  publicKey: string
  fingerprint: string
}

/**
 * The signing side of a signer (build machines). Creating one must not read
 * keys yet: each method reads what it needs.
 */
export interface Signer {
  /** Sign bytes with the configured key. */
  sign?(data: Uint8Array): Promise<Signature>
  /** The public key of the configured signing key, in the form the verifier reads from a trusted-key file. */
  publicKey?(): Promise<string>
  /** Make a new signing key. */
  generateKey?(options: {userId: string; passphrase?: string}): Promise<GeneratedKey>
}

/** What a verifier makes of a trusted-key file's text. */
export type KeyFileKind =
  | 'public' // public keys this verifier can use
  | 'secret' // a secret key: never given to nodes
  | 'unusable' // nothing this verifier can use

/** The verifying side of a signer (nodes, and build machines checking what is live). */
export interface Verifier {
  /**
   * Verify a detached signature against trusted keys. Returns the trusted
   * key that made it, or undefined when none did. Throws (kind `settings`)
   * when a trusted key file holds no usable key.
   */
  verify(data: Uint8Array, signature: Signature, trusted: TrustedKeyFile[]): Promise<VerifiedSignature | undefined>
  /** Whether a trusted-key file's text is one this verifier can use: bootstrap asks before giving it to nodes. */
  keyFileKind(text: string): KeyFileKind
}

export interface SignerDescriptor extends DescriptorBase {
  /** Contract 2: the signing side; absent for a signer that only verifies. */
  createSigner?(context: ProviderContext): Signer | Promise<Signer>
  /** Contract 2: the verifier; absent when another signer's verifier checks these signatures (openpgp checks gpg's). */
  createVerifier?(context: ProviderContext): Verifier | Promise<Verifier>
}

/** Contract 1's signer: one object that signs and verifies, with no way to inspect key files. */
export interface SignerV1 extends Signer {
  verify?(data: Uint8Array, signature: Signature, trusted: TrustedKeyFile[]): Promise<VerifiedSignature | undefined>
}

/** Contract 1's signer descriptor, still accepted (the core adapts it). */
export interface SignerDescriptorV1 extends DescriptorBase {
  create(context: ProviderContext): SignerV1 | Promise<SignerV1>
}

// ----------------------------------------------------------------- templates

export interface TemplateDescriptor extends DescriptorBase {
  /** `ci` (since pupistry 3.0): a pipeline definition rendered by `pupistry ci init` (docs/ci.md). */
  kind: 'bootstrap' | 'packer' | 'ci' | 'partial'
  /** Other names users may type for this template. */
  aliases?: string[]
  /** Absolute path of the handlebars source. */
  path: string
}

// ---------------------------------------------------------------- hook events

export interface PupistryHooks {
  'pupistry:assemblers': {options: Record<string, never>; return: AssemblerDescriptor[]}
  'pupistry:storage': {options: Record<string, never>; return: StorageDescriptor[]}
  'pupistry:signers': {options: Record<string, never>; return: SignerDescriptor[]}
  'pupistry:templates': {options: Record<string, never>; return: TemplateDescriptor[]}
}

export type ProviderKind = 'assemblers' | 'storage' | 'signers' | 'templates'

/**
 * The function a plugin exports for a hook event. oclif calls it with the
 * options plus its own `config`; a plugin needs nothing from oclif to write one.
 */
export type PupistryHook<E extends keyof PupistryHooks> = (
  options: PupistryHooks[E]['options'] & {config?: unknown},
) => Promise<PupistryHooks[E]['return']> | PupistryHooks[E]['return']
