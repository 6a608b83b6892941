import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {UsageError} from '../src/errors.js'
import {type HookOutcome, type PluginInfo, ProviderRegistry} from '../src/registry/registry.js'

const core: PluginInfo = {name: 'pupistry', type: 'core', version: '3.0.0'}
const bundled: PluginInfo = {name: '@pupistry/s3', type: 'core', version: '3.0.0'}
const zeta: PluginInfo = {name: 'zeta-store', type: 'user', version: '1.0.0'}
const alpha: PluginInfo = {name: 'alpha-store', type: 'link', version: '0.1.0'}

const store = (name: string, extra: Record<string, unknown> = {}) => ({contract: 1, create: () => ({}), description: name, name, schemes: [name], ...extra})

function registryOf(answers: Record<string, HookOutcome>): ProviderRegistry {
  return new ProviderRegistry(async (event) => answers[event] ?? {failures: [], successes: []})
}

describe('the provider registry', () => {
  it('when several plugins offer a name: the core, then bundled plugins, then installed ones by plugin name; each clash said once', async () => {
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
  })

  it('refuses descriptors of another contract, or of none, and says so when one is chosen (by name or URL scheme)', async () => {
    const registry = registryOf({
      'pupistry:storage': {failures: [], successes: [{plugin: zeta, result: [store('old', {contract: 0, schemes: ['legacy']}), store('vague', {contract: undefined})]}]},
    })
    assert.deepEqual(await registry.list('storage'), [])
    assert.deepEqual(registry.warnings, [
      'storage provider "old" of plugin zeta-store@1.0.0 was written for plugin contract 0, but this pupistry speaks contract 1; ignored',
      'storage provider "vague" of plugin zeta-store@1.0.0 does not state the plugin contract it was written for (this pupistry speaks contract 1); ignored',
    ])
    await assert.rejects(registry.get('storage', 'old'), (error: Error) => {
      assert.ok(error instanceof UsageError)
      assert.match(error.message, /was written for plugin contract 0/)
      assert.equal(error.hint, 'upgrade the plugin: `pupistry plugins install zeta-store` (or ask its author for a version made for contract 1)')
      return true
    })
    await assert.rejects(registry.get('storage', 'legacy'), /storage provider "old" of plugin zeta-store@1\.0\.0 was written for plugin contract 0/)
  })

  it('skips what is not a provider, keeping the rest of the same plugin', async () => {
    const registry = registryOf({
      'pupistry:storage': {
        failures: [{error: new Error('boom'), plugin: alpha}],
        successes: [{plugin: zeta, result: [store('good'), {contract: 1, name: 'nocreate', schemes: ['x']}, 42]}],
      },
    })
    assert.deepEqual((await registry.list('storage')).map((entry) => entry.descriptor.name), ['good'])
    assert.deepEqual(registry.warnings, [
      'plugin alpha-store failed to answer pupistry:storage: boom',
      'plugin zeta-store: storage provider "nocreate" has no create function; ignored',
      'plugin zeta-store: a storage provider descriptor is not an object; ignored',
    ])
  })

  it('knows every settings key that providers declare', async () => {
    const registry = registryOf({
      'pupistry:signers': {failures: [], successes: [{plugin: alpha, result: [store('ed', {settings: ['general.ed_key']})]}]},
      'pupistry:storage': {failures: [], successes: [{plugin: zeta, result: [store('z', {settings: ['general.z_root', 'general.storage']})]}]},
    })
    assert.deepEqual([...(await registry.declaredSettings())].sort(), ['general.ed_key', 'general.storage', 'general.z_root'])
  })
})
