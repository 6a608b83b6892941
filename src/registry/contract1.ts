import type {
  KeyFileKind,
  ProviderContext,
  ProviderKind,
  SignerDescriptor,
  SignerDescriptorV1,
  StorageDescriptor,
  Store,
  Verifier,
} from '../contracts.js'

/**
 * A signer descriptor as the core uses it: a contract-1 signer may or may not
 * verify, which is known only once it is created, so its verifier may be absent.
 */
export type CoreSignerDescriptor = Omit<SignerDescriptor, 'createVerifier'> & {
  createVerifier?(context: ProviderContext): Verifier | undefined | Promise<Verifier | undefined>
}

/**
 * Gives a contract-1 descriptor the shape of contract 2, so the rest of the
 * core knows one contract. Contract-2 descriptors pass unchanged.
 */
export function adaptContract1<D extends {contract: number}>(kind: ProviderKind, descriptor: D): D {
  if (descriptor.contract !== 1) return descriptor
  if (kind === 'storage') return adaptStorage(descriptor as unknown as StorageDescriptor) as unknown as D
  if (kind === 'signers') return adaptSigner(descriptor as unknown as SignerDescriptorV1) as unknown as D
  return descriptor
}

/**
 * Contract 1 stores said nothing about nodes (they get general.storage only,
 * the one setting every store reads), had no prefixOf (a node behind a mirror
 * makes the primary store to learn its prefix), and marked a create-only
 * conflict with `code: 'EEXIST'`.
 */
function adaptStorage(descriptor: StorageDescriptor): StorageDescriptor {
  const {node: _node, prefixOf: _prefixOf, ...rest} = descriptor
  return {
    ...rest,
    async create(url, context) {
      const store = await descriptor.create(url, context)
      const adapted: Store = {
        delete: (key) => store.delete(key),
        get: (key, options) => store.get(key, options),
        head: (key) => store.head(key),
        list: (prefix) => store.list(prefix),
        location: store.location,
        prefix: store.prefix,
        async put(key, body, options) {
          try {
            return await store.put(key, body, options)
          } catch (error) {
            const {code, cause} = (error ?? {}) as {code?: string; cause?: {code?: string}}
            if (code === 'EEXIST' || cause?.code === 'EEXIST') throw Object.assign(error as Error, {reason: 'conflict'})
            throw error
          }
        },
      }
      if (store.exposure) adapted.exposure = (sampleKey) => store.exposure!(sampleKey)
      return adapted
    },
    node: {settings: ['general.storage']},
  }
}

/** Contract 1 signers were one object that signs and (maybe) verifies. */
function adaptSigner(descriptor: SignerDescriptorV1): CoreSignerDescriptor {
  const {create, ...rest} = descriptor
  return {
    ...rest,
    createSigner: (context) => create(context),
    async createVerifier(context) {
      const signer = await create(context)
      if (!signer.verify) return undefined
      const verify = signer.verify.bind(signer)
      return {keyFileKind: guessKeyFileKind, verify}
    },
  }
}

/** A contract-1 verifier cannot say which files it reads: refuse what is plainly a secret key, accept the rest. */
function guessKeyFileKind(text: string): KeyFileKind {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/.test(text) ? 'secret' : 'public'
}
