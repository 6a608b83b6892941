import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {UsageError} from '../src/errors.js'
import {type HookOutcome, type PluginInfo, ProviderRegistry} from '../src/registry/registry.js'

const core: PluginInfo = {name: 'pupistry', type: 'core', version: '3.0.0'}
const bundled: PluginInfo = {name: '@pupistry/s3', type: 'core', version: '3.0.0'}
const zeta: PluginInfo = {name: 'zeta-store', type: 'user', version: '1.0.0'}
const alpha: PluginInfo = {name: 'alpha-store', type: 'link', version: '0.1.0'}

const store = (name: string, extra: Record<string, unknown> = {}) => ({
  contract: 1,
  create: () => ({}),
  description: name,
  name,
  schemes: [name],
  ...extra,
})

function registryOf(answers: Record<string, HookOutcome>): ProviderRegistry {
  return new ProviderRegistry(async (event) => answers[event] ?? {failures: [], successes: []})
}

describe('the provider registry', () => {
  it(
    'when several plugins offer a name: the core, then bundled plugins, then installed ones by plugin ' +
      'name; each clash said once',
    async () => {
      const registry = registryOf({
        'pupistry:storage': {
          failures: [],
          successes: [
            {plugin: zeta, result: [store('file'), store('s3'), store('shared')]},
            {plugin: alpha, result: [store('s3'), store('shared')]},
            {plugin: bundled, result: [store('s3')]},
            {plugin: core, result: [store('file')]},
          ],
        },
      })
      const chosen = (await registry.list('storage')).map((entry) => [entry.descriptor.name, entry.plugin.name])
      assert.deepEqual(chosen, [
        ['file', 'pupistry'],
        ['s3', '@pupistry/s3'],
        ['shared', 'alpha-store'],
      ])
      assert.deepEqual(registry.warnings.sort(), [
        'storage provider "file" is offered by both pupistry and zeta-store; using pupistry',
        'storage provider "s3" is offered by both @pupistry/s3 and alpha-store; using @pupistry/s3',
        'storage provider "s3" is offered by both @pupistry/s3 and zeta-store; using @pupistry/s3',
        'storage provider "shared" is offered by both alpha-store and zeta-store; using alpha-store',
      ])
    },
  )

  it('refuses descriptors of another contract, or of none, and says so when one is chosen (by name or URL scheme)', async () => {
    const registry = registryOf({
      'pupistry:storage': {
        failures: [],
        successes: [
          {
            plugin: zeta,
            result: [store('old', {contract: 0, schemes: ['legacy']}), store('vague', {contract: undefined})],
          },
        ],
      },
    })
    assert.deepEqual(await registry.list('storage'), [])
    assert.deepEqual(registry.warnings, [
      'storage provider "old" of plugin zeta-store@1.0.0 was written for plugin contract 0, but this ' +
        'pupistry speaks contracts 1 to 2; ignored',
      'storage provider "vague" of plugin zeta-store@1.0.0 does not state the plugin contract it was ' +
        'written for (this pupistry speaks contracts 1 to 2); ignored',
    ])
    await assert.rejects(registry.get('storage', 'old'), (error: Error) => {
      assert.ok(error instanceof UsageError)
      assert.match(error.message, /was written for plugin contract 0/)
      assert.equal(
        error.hint,
        'upgrade the plugin: `pupistry plugins install zeta-store` (or ask its author for a version made for contract 2)',
      )
      return true
    })
    await assert.rejects(
      registry.get('storage', 'legacy'),
      /storage provider "old" of plugin zeta-store@1\.0\.0 was written for plugin contract 0/,
    )
  })

  it('refuses a descriptor newer than its contracts, with the hint to upgrade pupistry', async () => {
    const quantum = {contract: 3, createSigner: () => ({}), description: 'q', name: 'quantum'}
    const registry = registryOf({'pupistry:signers': {failures: [], successes: [{plugin: zeta, result: [quantum]}]}})
    assert.deepEqual(await registry.list('signers'), [])
    await assert.rejects(registry.get('signers', 'quantum'), (error: Error) => {
      assert.ok(error instanceof UsageError)
      assert.equal(
        error.message,
        'signer "quantum" of plugin zeta-store@1.0.0 was written for plugin contract 3, but this pupistry speaks contracts 1 to 2',
      )
      assert.equal(error.hint, 'upgrade pupistry, or install a version of zeta-store made for contract 2')
      return true
    })
  })

  it('adapts contract-1 descriptors: EEXIST becomes reason conflict, a signer splits into signing side and verifier', async () => {
    const clash = Object.assign(new Error('taken'), {code: 'EEXIST'})
    const oldStore = {
      delete: async () => {},
      get: async () => undefined,
      head: async () => undefined,
      list: async () => [],
      location: 'old:',
      prefix: 'p/',
      put: async () => {
        throw clash
      },
    }
    const verifies = {
      sign: async () => ({keyid: 'K', sig: new Uint8Array()}),
      verify: async () => ({identity: 'me', keyid: 'K'}),
    }
    const registry = registryOf({
      'pupistry:signers': {
        failures: [],
        successes: [
          {
            plugin: zeta,
            result: [
              {...store('both'), create: () => verifies},
              {...store('signonly'), create: () => ({sign: verifies.sign})},
            ],
          },
        ],
      },
      'pupistry:storage': {
        failures: [],
        successes: [{plugin: zeta, result: [{...store('old'), create: () => oldStore}]}],
      },
    })
    const {descriptor: storage} = await registry.get('storage', 'old')
    assert.deepEqual(
      storage.node,
      {settings: ['general.storage']},
      'a contract-1 store gives nodes general.storage only',
    )
    assert.equal(storage.prefixOf, undefined)
    const opened = await storage.create(new URL('old://x'), {} as never)
    assert.equal(opened.prefix, 'p/')
    const again = opened.put('k', new Uint8Array(), {createOnly: true})
    await assert.rejects(again, (error: Error & {reason?: string}) => error.reason === 'conflict')

    const {descriptor: both} = await registry.get('signers', 'both')
    assert.equal(typeof (await both.createSigner!({} as never)).sign, 'function')
    const verifier = await both.createVerifier!({} as never)
    assert.deepEqual(await verifier!.verify(new Uint8Array(), {keyid: 'K', sig: new Uint8Array()}, []), {
      identity: 'me',
      keyid: 'K',
    })
    assert.equal(verifier!.keyFileKind('-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n'), 'secret')
    assert.equal(verifier!.keyFileKind('-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n'), 'public')
    const {descriptor: signOnly} = await registry.get('signers', 'signonly')
    assert.equal(
      await signOnly.createVerifier!({} as never),
      undefined,
      'a contract-1 signer without verify has no verifier',
    )
  })

  it('refuses a contract-2 signer that can neither sign nor verify', async () => {
    const nothing = {contract: 2, description: 'n', name: 'nothing'}
    const registry = registryOf({'pupistry:signers': {failures: [], successes: [{plugin: zeta, result: [nothing]}]}})
    assert.deepEqual(await registry.list('signers'), [])
    assert.deepEqual(registry.warnings, [
      'plugin zeta-store: signer "nothing" has no createSigner or createVerifier function; ignored',
    ])
  })

  it('skips what is not a provider, keeping the rest of the same plugin', async () => {
    const registry = registryOf({
      'pupistry:storage': {
        failures: [{error: new Error('boom'), plugin: alpha}],
        successes: [{plugin: zeta, result: [store('good'), {contract: 1, name: 'nocreate', schemes: ['x']}, 42]}],
      },
    })
    assert.deepEqual(
      (await registry.list('storage')).map((entry) => entry.descriptor.name),
      ['good'],
    )
    assert.deepEqual(registry.warnings, [
      'plugin alpha-store failed to answer pupistry:storage: boom',
      'plugin zeta-store: storage provider "nocreate" has no create function; ignored',
      'plugin zeta-store: a storage provider descriptor is not an object; ignored',
    ])
  })

  it('knows every settings key that providers declare', async () => {
    const registry = registryOf({
      'pupistry:signers': {
        failures: [],
        successes: [{plugin: alpha, result: [store('ed', {settings: ['general.ed_key']})]}],
      },
      'pupistry:storage': {
        failures: [],
        successes: [{plugin: zeta, result: [store('z', {settings: ['general.z_root', 'general.storage']})]}],
      },
    })
    assert.deepEqual([...(await registry.declaredSettings())].sort(), [
      'general.ed_key',
      'general.storage',
      'general.z_root',
    ])
  })
})
