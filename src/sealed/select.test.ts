import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import fc from 'fast-check'

import {HieraSelectionError} from '../errors.js'
import {parseHieraConfig} from './hiera-config.js'
import {interpolate} from './interpolate.js'
import {type Member, parseMember} from './registry.js'
import {HIERA_YAML as HIERA} from '../../test/helpers/sealed-world.js'
import {protectedFiles, selectFiles} from './select.js'

const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n'

const FILES = [
  'data/common.yaml',
  'data/nodes/a.example.yaml',
  'data/nodes/b.example.yaml',
  'data/role/db.yaml',
  'data/role/web.yaml',
  'hiera.yaml',
  'manifests/site.pp',
]

function node(name: string, facts: Record<string, unknown>, extra: Record<string, unknown> = {}): Member {
  const lines = [`key: |\n  ${KEY.trim().split('\n').join('\n  ')}`, `facts: ${JSON.stringify(facts)}`]
  for (const [key, value] of Object.entries(extra)) lines.push(`${key}: ${JSON.stringify(value)}`)
  return parseMember(lines.join('\n'), `${name}.yaml`, 'node', `hieracrypt/nodes/${name}.yaml`)
}

function select(members: Member[], hiera = HIERA, files = FILES, publicGlobs: string[] = []) {
  const config = parseHieraConfig(hiera, 'hiera.yaml')
  return selectFiles({
    config,
    environment: 'production',
    files,
    members,
    protected: protectedFiles(files, config, publicGlobs),
  })
}

describe('sealed hiera selection', () => {
  it('gives each node exactly the files its hierarchy reads; nodes with the same set share a bundle', () => {
    const selection = select([
      node('a.example', {role: 'web'}),
      node('b.example', {role: 'db'}),
      node('d.example', {role: 'web'}),
      node('e.example', {role: 'web'}),
    ])
    const files = Object.fromEntries(selection.members.map(({files, member}) => [member.name, files]))
    assert.deepEqual(files['a.example'], ['data/common.yaml', 'data/nodes/a.example.yaml', 'data/role/web.yaml'])
    assert.deepEqual(files['b.example'], ['data/common.yaml', 'data/nodes/b.example.yaml', 'data/role/db.yaml'])
    assert.deepEqual(files['d.example'], ['data/common.yaml', 'data/role/web.yaml'])
    assert.equal(selection.bundles.length, 3)
    const shared = selection.bundles.find((bundle) => bundle.members.length === 2)
    assert.deepEqual(
      shared?.members.map((member) => member.name),
      ['d.example', 'e.example'],
    )
    assert.deepEqual(
      selection.protected,
      FILES.filter((file) => file.startsWith('data/')),
    )
  })

  it('leaves files named by build.hieracrypt_public out of the protected set', () => {
    const selection = select([node('a.example', {role: 'web'})], HIERA, FILES, ['data/common.yaml'])
    assert.ok(!selection.protected.includes('data/common.yaml'))
    assert.deepEqual(selection.members[0].files, ['data/nodes/a.example.yaml', 'data/role/web.yaml'])
  })

  it('names node and level when an interpolation cannot be resolved', () => {
    assert.throws(
      () => select([node('a.example', {})]),
      (error: Error) =>
        error instanceof HieraSelectionError &&
        /node a\.example, hierarchy level "role": %\{facts\.role\}/.test(error.message),
    )
  })

  it('skips revoked nodes and nodes of other environments', () => {
    const selection = select([
      node('a.example', {role: 'web'}, {revoked: true}),
      node('b.example', {role: 'db'}, {environments: ['staging']}),
      node('d.example', {role: 'web'}, {environments: ['production']}),
    ])
    assert.deepEqual(
      selection.members.map(({member}) => member.name),
      ['d.example'],
    )
  })

  it('expands paths, globs, mapped_paths, legacy top-scope facts, environment and literal()', () => {
    const hiera = `---
version: 5
defaults: {datadir: data, data_hash: yaml_data}
hierarchy:
  - name: several
    paths: ["os/%{facts.os.family}.yaml", "env/%{environment}.yaml", "legacy/%{::role}.yaml"]
  - name: globbed
    glob: "apps/%{facts.role}/*.yaml"
  - name: services
    mapped_paths: [facts.services, svc, "svc/%{svc}.yaml"]
  - name: literal
    path: "pct%{literal('%')}.yaml"
  - name: secrets
    datadir: secrets
    lookup_key: eyaml_lookup_key
    path: common.eyaml
`
    const files = [
      'data/apps/web/a.yaml',
      'data/apps/web/b.yaml',
      'data/apps/web/sub/c.yaml',
      'data/apps/db/a.yaml',
      'data/env/production.yaml',
      'data/legacy/web.yaml',
      'data/os/Debian.yaml',
      'data/pct%.yaml',
      'data/svc/nginx.yaml',
      'data/svc/redis.yaml',
      'data/svc/mysql.yaml',
      'secrets/common.eyaml',
    ]
    const selection = select(
      [node('a.example', {os: {family: 'Debian'}, role: 'web', services: ['nginx', 'redis']})],
      hiera,
      files,
    )
    assert.deepEqual(selection.members[0].files, [
      'data/apps/web/a.yaml',
      'data/apps/web/b.yaml',
      'data/env/production.yaml',
      'data/legacy/web.yaml',
      'data/os/Debian.yaml',
      'data/pct%.yaml',
      'data/svc/nginx.yaml',
      'data/svc/redis.yaml',
      'secrets/common.eyaml',
    ])
  })

  it('refuses Hiera 3, and a non-file backend on protected data', () => {
    assert.throws(
      () => parseHieraConfig(':backends:\n  - yaml\n:hierarchy:\n  - common\n', 'hiera.yaml'),
      /a Hiera 3 configuration/,
    )
    const custom = `version: 5
defaults: {datadir: data, data_hash: yaml_data}
hierarchy:
  - {name: common, path: common.yaml}
  - {name: vault, lookup_key: vault_lookup, datadir: data/vault}
`
    assert.throws(() => parseHieraConfig(custom, 'hiera.yaml'), /level "vault" uses backend vault_lookup/)
    const elsewhere = custom.replace('datadir: data/vault', 'datadir: other')
    assert.equal(parseHieraConfig(elsewhere, 'hiera.yaml').levels.length, 1)
  })

  it('refuses a level that leaves the environment, and a function it cannot know', () => {
    const hiera = HIERA.replace('common.yaml\n', '../../etc/%{facts.role}.yaml\n')
    assert.throws(() => select([node('a.example', {role: 'web'})], hiera), /leaves the environment/)
    assert.throws(
      () => interpolate("%{lookup('x')}", {environment: 'p', facts: {}, trusted: {}}),
      /cannot be resolved at build time/,
    )
  })

  it('recognises a registry entry of the Ruby tool and says how to convert it', () => {
    assert.throws(
      () =>
        parseMember(
          ':cert: |\n  -----BEGIN CERTIFICATE-----\n  x\n:facts:\n  role: web\n',
          'web1',
          'node',
          'hieracrypt/nodes/web1',
        ),
      (error: HieraSelectionError) => /Ruby pupistry/.test(error.message) && /node init/.test(error.hint ?? ''),
    )
  })

  it('a group reads what its facts select, but no per-certname level', () => {
    const group = parseMember(
      `key: |\n  ${KEY.trim().split('\n').join('\n  ')}\nfacts: {role: web}\n`,
      'web.yaml',
      'group',
      'hieracrypt/groups/web.yaml',
    )
    assert.deepEqual(select([group]).members[0].files, ['data/common.yaml', 'data/role/web.yaml'])
  })

  it('property: a node reads a file exactly when some level expands to its name', () => {
    const value = fc.constantFrom('web', 'db', 'cache')
    fc.assert(
      fc.property(
        fc.record({role: value, tier: value}),
        fc.subarray([
          'nodes/%{trusted.certname}',
          'role/%{facts.role}',
          'tier/%{facts.tier}',
          'x/%{::role}-%{facts.tier}',
          'common',
        ]),
        fc.subarray(['common', 'nodes/n1', 'role/web', 'role/db', 'tier/cache', 'x/web-db', 'x/db-db', 'role/cache']),
        (facts, templates, present) => {
          const hiera = `version: 5\ndefaults: {datadir: data, data_hash: yaml_data}\nhierarchy:\n${templates
            .map((template, index) => `  - {name: l${index}, path: "${template}.yaml"}`)
            .join('\n')}\n`
          const files = present.map((file) => `data/${file}.yaml`)
          const [selection] = select([node('n1', facts)], hiera, files).members
          const values: Record<string, string> = {
            '%{::role}': facts.role,
            '%{facts.role}': facts.role,
            '%{facts.tier}': facts.tier,
            '%{trusted.certname}': 'n1',
          }
          const expected = templates
            .map((template) => `data/${template.replace(/%\{[^}]+\}/g, (name) => values[name])}.yaml`)
            .filter((file) => files.includes(file))
          assert.deepEqual(selection.files, [...new Set(expected)].sort())
        },
      ),
    )
  })
})
