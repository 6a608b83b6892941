import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import fc from 'fast-check'

import {parseHieraConfig} from '../src/sealed/hiera-config.js'
import {parseMember} from '../src/sealed/registry.js'
import {protectedFiles, selectFiles} from '../src/sealed/select.js'
import {execute, show} from './helpers/cli.js'

const LEVELS = [
  {path: 'nodes/%{trusted.certname}.yaml'},
  {path: 'role/%{facts.role}.yaml'},
  {path: 'tier/%{facts.tier}.yaml'},
  {path: 'x/%{::role}-%{facts.tier}.yaml'},
  {path: 'env/%{environment}.yaml'},
  {glob: 'apps/%{facts.role}/*.yaml'},
  {path: 'common.yaml'},
]
const FILES = [
  'apps/db/a',
  'apps/web/a',
  'apps/web/b',
  'common',
  'env/production',
  'nodes/n1',
  'role/db',
  'role/web',
  'tier/cache',
  'tier/web',
  'x/db-cache',
  'x/web-db',
].map((file) => `data/${file}.yaml`)
const KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n'

/** Each data file defines one key of its own: the keys Puppet resolves are the files Hiera read. */
const keyOf = (file: string) => `file_${file.replace(/\W/g, '_')}`

describe('sealed hiera selection agrees with what Puppet itself reads', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-selection-'))
  after(() => rmSync(scratch, {force: true, recursive: true}))

  it('property: random hierarchies, files and facts; one real puppet apply per case', async () => {
    let run = 0
    const value = fc.constantFrom('web', 'db', 'cache')
    await fc.assert(
      fc.asyncProperty(
        fc.record({role: value, tier: value}),
        fc.shuffledSubarray(LEVELS, {minLength: 1}),
        fc.subarray(FILES, {minLength: 1}),
        async (facts, levels, present) => {
          const root = path.join(scratch, `case-${++run}`, 'production')
          const hiera = `---\nversion: 5\ndefaults: {datadir: data, data_hash: yaml_data}\nhierarchy:\n${levels
            .map((level, index) => `  - {name: l${index}, ${Object.entries(level).map(([k, v]) => `${k}: "${v}"`)}}`)
            .join('\n')}\n`
          writeFileSync(path.join(mkdirP(root), 'hiera.yaml'), hiera)
          for (const file of present)
            writeFileSync(
              path.join(mkdirP(path.dirname(path.join(root, file))), path.basename(file)),
              `${keyOf(file)}: found\n`,
            )
          const config = parseHieraConfig(hiera, 'hiera.yaml')
          const member = parseMember(
            `key: |\n  ${KEY.trim().split('\n').join('\n  ')}\nfacts: ${JSON.stringify(facts)}\n`,
            'n1.yaml',
            'node',
            'hieracrypt/nodes/n1.yaml',
          )
          const files = [...present, 'hiera.yaml']
          const [selection] = selectFiles({
            config,
            environment: 'production',
            files,
            members: [member],
            protected: protectedFiles(files, config, []),
          }).members
          const code = FILES.map(
            (file) => `notice("READ ${file}=\${lookup('${keyOf(file)}', Data, 'first', 'no')}")`,
          ).join('\n')
          const result = await execute(
            'puppet',
            [
              'apply',
              '--color',
              'false',
              '--environmentpath',
              path.dirname(root),
              '--environment',
              'production',
              '--certname',
              'n1',
              '-e',
              code,
            ],
            {env: {FACTER_role: facts.role, FACTER_tier: facts.tier}},
          )
          assert.ok(result.code === 0 || result.code === 2, show(result))
          const read = [...result.stdout.matchAll(/READ (\S+)=found$/gm)].map((match) => match[1]).sort()
          assert.deepEqual(selection.files, read, hiera)
        },
      ),
      {numRuns: 3},
    )
  })
})

function mkdirP(dir: string): string {
  mkdirSync(dir, {recursive: true})
  return dir
}
