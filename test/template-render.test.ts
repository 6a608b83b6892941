import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import type {TemplateDescriptor} from '../src/contracts.js'
import {EXIT, SettingsError, TemplateError} from '../src/errors.js'
import coreTemplates from '../src/hooks/templates.js'
import {type HookOutcome, ProviderRegistry} from '../src/registry/registry.js'
import type {TemplateContext} from '../src/templates/context.js'
import {hclHeredoc, shellHeredoc, shellQuote} from '../src/templates/quote.js'
import {Templates} from '../src/templates/render.js'
import {run} from './helpers/cli.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-render-'))
after(() => rmSync(scratch, {force: true, recursive: true}))

const CONTEXT: TemplateContext = {
  credentials: false,
  environment: 'production',
  interval_seconds: 300,
  node: {legacy_tarballs: [], registry: null, tarballs: []},
  npm_registry: null,
  paths: {
    app_cache: '/var/lib/pupistry',
    bin: '/usr/local/bin/pupistry',
    prefix: '/opt/pupistry',
    settings: '/etc/pupistry/settings.yaml',
    trusted_keys: '/etc/pupistry/trusted-keys',
  },
  puppet: {package: 'puppet-agent', repo: null},
  pupistry: {plugins: [], version: '9.9.9'},
  schedule: 'daemon',
  service_stop_seconds: 100,
  sealed_facts: [],
  sealed_hiera: false,
  settings_yaml: 'general: {}\n',
  stop_timeout_seconds: 60,
  template: {description: 'test', name: 'probe'},
  trusted_keys: [],
}

/** Templates from the core plus one probe template, rendered in-process. */
async function probe(
  source: string,
  context = CONTEXT,
  name = 'probe',
  extra: TemplateDescriptor[] = [],
): Promise<string> {
  const file = path.join(scratch, `probe-${Math.random().toString(36).slice(2)}.sh.hbs`)
  writeFileSync(file, source)
  const descriptor: TemplateDescriptor = {
    contract: 1,
    description: 'probe',
    kind: 'bootstrap',
    name: 'probe',
    path: file,
  }
  const registry = new ProviderRegistry(
    async (): Promise<HookOutcome> => ({
      failures: [],
      successes: [
        {plugin: {name: 'pupistry', type: 'core', version: '9.9.9'}, result: await coreTemplates({})},
        {plugin: {name: 'probe-plugin', type: 'link', version: '0.0.1'}, result: [descriptor, ...extra]},
      ],
    }),
  )
  const templates = await Templates.load(registry, () => context, 'probe.yaml')
  return templates.render('bootstrap', name)
}

function failsWith(pattern: RegExp, Type: typeof TemplateError | typeof SettingsError = TemplateError) {
  return (error: unknown) => {
    assert.ok(error instanceof Type, `${String(error)} is a ${Type.name}`)
    assert.match(error.message, pattern)
    return true
  }
}

describe('template rendering is strict', () => {
  it('renders values from the context', async () => {
    assert.equal(
      await probe('{{sh environment}} {{#each pupistry.plugins}}x{{/each}}{{#if npm_registry}}r{{/if}}\n'),
      'production \n',
    )
  })

  it('installs the plugins installed here at their versions, from the configured registry', async () => {
    const context: TemplateContext = {
      ...CONTEXT,
      node: {
        legacy_tarballs: [],
        registry: null,
        tarballs: [{arch: 'x86_64', sha256: 'a'.repeat(64), url: 'https://mirror.example.com/node.tar.xz'}],
      },
      npm_registry: 'https://npm.example.com/',
      pupistry: {
        plugins: [
          {name: '@pupistry/librarian', version: '3.0.1'},
          {name: 'pupistry-plugin-odd name', version: '1.0.0'},
        ],
        version: '9.9.9',
      },
      template: {description: 'Debian 12', name: 'debian-12'},
    }
    const script = await probe('', context, 'debian-12')
    assert.match(script, /^ {2}"\$pupistry_bin" plugins install @pupistry\/librarian@3\.0\.1$/m)
    assert.match(script, /^ {2}"\$pupistry_bin" plugins install 'pupistry-plugin-odd name'@1\.0\.0$/m)
    assert.match(script, /^export npm_config_registry=https:\/\/npm\.example\.com\/$/m)
    const file = path.join(scratch, 'plugins.sh')
    writeFileSync(file, script)
    await run('/usr/bin/shellcheck', ['--severity=style', file])
  })

  it('stops on an unknown value, in a mustache, a helper argument, a block, or a partial argument', async () => {
    await assert.rejects(probe('{{environmnet}}'), failsWith(/"environmnet" not defined/))
    await assert.rejects(
      probe('{{sh template.nam}}'),
      failsWith(/"template\.nam" is not a value of the template context/),
    )
    await assert.rejects(probe('{{#if puppet.rep}}x{{/if}}'), failsWith(/"puppet\.rep" is not a value/))
    await assert.rejects(probe('{{#each node.tarball}}x{{/each}}'), failsWith(/"node\.tarball" is not a value/))
    await assert.rejects(
      probe('{{> aws-ami release="x" script="y" ssh_user="u" ami_name="n"}}'),
      failsWith(/\{\{hcl_string\}\} was given a value that does not exist/),
    )
    assert.equal(new TemplateError('x').exitCode, EXIT.template)
  })

  it('stops on a missing partial or a syntax error, naming the template file', async () => {
    await assert.rejects(
      probe('{{> no-such-partial}}'),
      failsWith(/^template "probe" \(.*probe-\w+\.sh\.hbs\): The partial no-such-partial could not be found/),
    )
    await assert.rejects(probe('{{#if environment}}'), failsWith(/^template "probe" .*Parse error/))
  })

  it('a partial whose file cannot be read stops only the templates that use it', async () => {
    const ghost: TemplateDescriptor = {
      contract: 1,
      description: 'gone',
      kind: 'partial',
      name: 'ghost',
      path: path.join(scratch, 'no-such-file.hbs'),
    }
    assert.equal(await probe('{{sh environment}}\n', CONTEXT, 'probe', [ghost]), 'production\n')
    await assert.rejects(
      probe('{{> ghost}}', CONTEXT, 'probe', [ghost]),
      failsWith(/cannot read partial template "ghost" at .*no-such-file\.hbs: ENOENT/),
    )
  })

  it('`require` names the setting a template needs and the settings file', async () => {
    await assert.rejects(
      probe('{{require node.tarballs "bootstrap.node_tarballs" "Node.js"}}'),
      failsWith(
        /^template "probe" needs bootstrap\.node_tarballs \(Node\.js\), which is not set in probe\.yaml$/,
        SettingsError,
      ),
    )
  })
})

describe('template descriptors from plugins', () => {
  it('skips, with a warning, those without a kind, an absolute path or a list of aliases', async () => {
    const plugin = {name: 'sloppy', type: 'user', version: '0.1.0'}
    const registry = new ProviderRegistry(
      async (): Promise<HookOutcome> => ({
        failures: [],
        successes: [
          {
            plugin,
            result: [
              {contract: 1, description: 'x', kind: 'script', name: 'no-kind', path: '/x.hbs'},
              {contract: 1, description: 'x', kind: 'bootstrap', name: 'relative', path: 'x.hbs'},
              {
                contract: 1,
                aliases: 'debian-12',
                description: 'x',
                kind: 'bootstrap',
                name: 'alias-string',
                path: '/x.hbs',
              },
              {contract: 1, description: 'x', kind: 'bootstrap', name: 'fine', path: '/x.hbs'},
            ],
          },
        ],
      }),
    )
    assert.deepEqual(
      (await registry.list('templates')).map((entry) => entry.descriptor.name),
      ['fine'],
    )
    assert.deepEqual(registry.warnings, [
      'plugin sloppy: template "no-kind" has no kind bootstrap, packer, ci or partial; ignored',
      'plugin sloppy: template "relative" has no absolute path; ignored',
      'plugin sloppy: template "alias-string" has aliases that are not a list of names; ignored',
    ])
  })
})

describe('quoting', () => {
  it("every value in the core's templates goes through a quoting helper", async () => {
    const allowed: Record<string, string[]> = {
      hcl: ['hcl', 'hcl_string', 'comment', 'bootstrap'],
      sh: ['sh', 'heredoc', 'comment', 'require', 'refuse'],
      yaml: ['yaml_string', 'sh', 'heredoc', 'comment'],
    }
    for (const {path: file} of await coreTemplates({})) {
      const kind = file.endsWith('.pkr.hcl.hbs') ? 'hcl' : file.endsWith('.yml.hbs') ? 'yaml' : 'sh'
      const helpers = allowed[kind]
      const source = readFileSync(file, 'utf8').replaceAll(/\\\{\{[^}]*\}\}/g, '')
      for (const [mustache, word] of source.matchAll(/\{\{(?![#/>!^*]|else\b)\s*([\w.@-]+)[^}]*\}\}/g)) {
        assert.ok(
          helpers.includes(word),
          `${path.basename(file)}: ${mustache} prints a value without quoting (use one of ${helpers.join(', ')})`,
        )
      }
    }
  })

  const nasty = [
    'plain',
    'with space',
    "it's",
    '$(touch /tmp/x)',
    '`id`',
    'a\nb',
    '',
    '-n',
    '*',
    "'",
    '\\',
    '${HOME}',
    'ü ñ',
  ]

  it('shellQuote gives back each value through bash, byte for byte', async () => {
    for (const value of nasty)
      assert.equal(await run('bash', ['-c', `printf '%s' ${shellQuote(value)}`]), value, JSON.stringify(value))
    assert.throws(() => shellQuote(null), TemplateError)
    assert.throws(() => shellQuote(['a']), TemplateError)
    assert.throws(() => shellQuote('a\0b'), TemplateError)
  })

  it('a shell here-document picks a delimiter the text does not contain, and bash expands nothing in it', async () => {
    const text = 'line $(id) `x` ${HOME}\nPUPISTRY_EOF\nend\n'
    const doc = shellHeredoc(text)
    assert.match(doc, /^<<'PUPISTRY_EOF_2'\n/)
    assert.equal(await run('bash', ['-c', `cat ${doc}\n`]), text)
  })

  it('an HCL heredoc doubles ${ and %{ so that HCL reads the text as it is', () => {
    assert.equal(hclHeredoc('a ${b} %{c}\n'), '<<PUPISTRY_EOF\na $${b} %%{c}\nPUPISTRY_EOF')
  })
})
