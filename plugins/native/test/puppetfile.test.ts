import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {parsePuppetfile} from '../src/puppetfile.js'
import {runCli, show} from '../../../test/helpers/cli.js'
import {World} from '../../../test/helpers/world.js'

const WHERE = 'the Puppetfile of branch production'

function refusal(text: string): string {
  try {
    parsePuppetfile(text, WHERE)
  } catch (error) {
    assert.equal((error as {kind?: string}).kind, 'assembler')
    return (error as Error).message
  }

  assert.fail(`accepted: ${text}`)
}

describe('the Puppetfile subset', () => {
  it('reads mod, forge, moduledir, comments, both hash styles, parentheses and line continuations', () => {
    const parsed = parsePuppetfile(
      `# comment
forge "https://forge.example.invalid" # ignored, as r10k ignores it by default
moduledir 'vendor/modules'
mod 'puppetlabs/stdlib', '9.4.1'
mod 'puppetlabs-concat', :latest
mod 'puppetlabs/inifile'
mod 'apache',
  :git    => 'https://git.example.invalid/apache.git',   # trailing comment
  :tag    => 'v1.2.3'
mod 'acme/nginx', git: 'ssh://git@git.example.invalid/nginx.git', branch: :control_branch, default_branch: 'main'
mod('site', :git => "file:///srv/site.git", :commit => '0123456789abcdef0123456789abcdef01234567', :install_path => 'site')
mod 'profile', \\
  :local => true; mod 'role', :local => true
mod 'plain', :git => 'file:///srv/plain.git'
`,
      WHERE,
    )
    assert.equal(parsed.moduledir, 'vendor/modules')
    assert.deepEqual(parsed.modules, [
      {kind: 'forge', line: 4, name: 'stdlib', slug: 'puppetlabs-stdlib', version: '9.4.1'},
      {kind: 'forge', line: 5, name: 'concat', slug: 'puppetlabs-concat', version: 'latest'},
      {kind: 'forge', line: 6, name: 'inifile', slug: 'puppetlabs-inifile', version: 'latest'},
      {kind: 'git', line: 7, name: 'apache', ref: 'v1.2.3', remote: 'https://git.example.invalid/apache.git'},
      {
        defaultBranch: 'main',
        kind: 'git',
        line: 10,
        name: 'nginx',
        ref: {controlBranch: true},
        remote: 'ssh://git@git.example.invalid/nginx.git',
      },
      {
        installPath: 'site',
        kind: 'git',
        line: 11,
        name: 'site',
        ref: '0123456789abcdef0123456789abcdef01234567',
        remote: 'file:///srv/site.git',
      },
      {kind: 'local', line: 12, name: 'profile'},
      {kind: 'local', line: 13, name: 'role'},
      {kind: 'git', line: 14, name: 'plain', ref: 'master', remote: 'file:///srv/plain.git'},
    ])
  })

  it('refuses Ruby code with the file and line, naming the r10k assembler as the way out', () => {
    const cases: Array<[string, number, RegExp]> = [
      ["mod 'a/b'\nif ENV['X']\n  mod 'c/d'\nend\n", 2, /"if" is Ruby code/],
      ["base = 'https://git.example.invalid'\n", 1, /"base" is Ruby code/],
      ['mod \'a\', :git => "#{base}/a.git"\n', 1, /string interpolation is Ruby code/],
      ["mod 'a', :git => base + '/a.git'\n", 1, /"base" is Ruby code/],
      ["\n\nmod 'a', :git => 'file:///a.git' if true\n", 3, /"if" is Ruby code/],
      ["require 'json'\n", 1, /"require" is Ruby code/],
      ['%w[a b].each { |m| mod m }\n', 1, /"%" is Ruby code/],
      ["mod 'a', :git => 'file:///a.git', :ref => ENV['REF']\n", 1, /"ENV" is Ruby code/],
    ]
    for (const [text, line, reason] of cases) {
      const message = refusal(text)
      assert.ok(message.startsWith(`${WHERE}, line ${line}: `), message)
      assert.match(message, reason)
      assert.match(
        message,
        new RegExp(
          /outside the declarative Puppetfile subset the native assembler reads .*build this /.source +
            /control repo with the r10k assembler \(build\.assembler: r10k\)/.source,
        ),
      )
    }
  })

  it('refuses options outside the subset, and conflicting refs, which r10k only warns about', () => {
    assert.match(
      refusal("mod 'a', :git => 'file:///a.git', :exclude_spec => true\n"),
      /line 1: mod 'a': the option :exclude_spec is outside the subset .*build\.assembler: r10k/,
    )
    assert.match(
      refusal("mod 'a', :git => 'file:///a.git', :tag => 'v1', :branch => 'main'\n"),
      /line 1: mod 'a': give only one of :tag, :branch/,
    )
    assert.match(
      refusal("mod 'a', :git => 'file:///a.git', :ref => 'x', :ref => 'y'\n"),
      /the option :ref is given twice/,
    )
    assert.match(
      refusal("mod 'a', :git => 'file:///a.git', :install_path => '../outside'\n"),
      /line 1: Puppetfile cannot manage content outside of its environment: \.\.\/outside/,
    )
  })

  describe("refuses what r10k refuses, with r10k's reason (each case checked against `r10k puppetfile check`)", () => {
    let dir: string
    before(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-puppetfile-'))
    })
    after(() => rmSync(dir, {force: true, recursive: true}))

    const cases: Array<[string, string, string]> = [
      [
        'duplicate module names',
        "mod 'a', :git => 'file:///x.git'\nmod 'other/a', :git => 'file:///y.git'\nmod 'b/c', '1.0.0'\nmod 'b-c'\n",
        'Puppetfiles cannot contain duplicate module names. Remove the duplicates of the following modules: a c',
      ],
      [
        'a module name r10k cannot parse',
        "mod 'a-b-c', :git => 'file:///x.git'\n",
        "Module name (a-b-c) must match either 'modulename' or 'owner/modulename'",
      ],
      [
        'a Forge module without its owner',
        "mod 'stdlib'\n",
        "Forge module names must match 'owner/modulename', instead got stdlib",
      ],
      [
        'a Forge version that is not SemVer',
        "mod 'puppetlabs/stdlib', '9.x'\n",
        'Module version 9.x is not a valid Forge module version',
      ],
      [
        'a hash without :git or :local',
        "mod 'a', :ref => 'main'\n",
        'Module a with these options has no implementation',
      ],
    ]
    for (const [what, text, reason] of cases) {
      it(what, () => {
        const file = path.join(dir, what.replace(/\W+/g, '-'))
        writeFileSync(file, text)
        const r10k = spawnSync('r10k', ['puppetfile', 'check', '--puppetfile', file], {encoding: 'utf8'})
        assert.equal(r10k.status, 1, `r10k accepted it: ${r10k.stdout}${r10k.stderr}`)
        assert.ok(refusal(text).includes(reason), refusal(text))
        // r10k's own words, where it has them (its message for a missing :git shows Ruby's inspect of the options).
        if (!reason.startsWith('Module a with')) assert.ok(`${r10k.stdout}${r10k.stderr}`.includes(reason), r10k.stderr)
      })
    }
  })

  describe('through `pupistry build`', () => {
    let world: World
    before(async () => {
      world = await World.create({build: {assembler: 'native'}, noKeys: true})
    })
    after(() => world.cleanup())

    it('a Puppetfile with Ruby code exits 12 naming the branch, the line and the r10k assembler', async () => {
      await world.commitToControl('staging', (dir) =>
        writeFileSync(
          path.join(dir, 'Puppetfile'),
          "# modules\nversion = 'v1.0.0'\nmod 'hello', :git => 'x', :ref => version\n",
        ),
      )
      const result = await world.cli('build', '-e', 'staging')
      assert.equal(result.code, 12, show(result))
      assert.match(
        result.stderr,
        /^pupistry: error: .*the Puppetfile of branch staging, line 2: "version" is Ruby code .*build\.assembler: r10k/m,
      )
    })

    it('a module whose ref does not exist exits 12 with the module, ref and remote', async () => {
      await world.commitToControl('staging', (dir) =>
        writeFileSync(
          path.join(dir, 'Puppetfile'),
          `mod 'hello', :git => 'file://${world.repos}/modules/hello.git', :ref => 'v9'\n`,
        ),
      )
      const result = await world.cli('build', '-e', 'staging')
      assert.equal(result.code, 12, show(result))
      assert.match(
        result.stderr,
        new RegExp(
          /line 1: Unable to manage Puppetfile content 'hello': Could not resolve desired ref /.source +
            /'v9' and no default provided in file:\/\/.*hello\.git/.source,
        ),
      )
    })

    it('with several modules failing, names the first in Puppetfile order and leaves the deployed tree as it was', async () => {
      const hello = `file://${world.repos}/modules/hello.git`
      const greeting = `file://${world.repos}/modules/greeting.git`
      await world.commitToControl(
        'production',
        (dir) =>
          writeFileSync(
            path.join(dir, 'Puppetfile'),
            `mod 'hello', :git => '${hello}', :tag => 'v1.0.0'\nmod 'greeting', :git => '${greeting}', :branch => 'main'\n`,
          ),
        'two modules',
        {newBranch: 'pipeline'},
      )
      const first = await world.cli('build', '-e', 'pipeline', '--verbose')
      assert.equal(first.code, 0, show(first))
      // The verbose build says how long each phase took and how many git jobs it ran.
      assert.match(first.stderr, /native: module remotes ready \(\d+\.\d\d s, \d+ git jobs so far\)/, show(first))
      assert.match(first.stderr, /native: environment pipeline deployed \(\d+\.\d\d s, \d+ git jobs so far\)/)
      const environments = path.join(world.dir, 'cache', 'providers', 'native', 'environments')
      const deployed = () => readdirSync(path.join(environments, 'pipeline', 'modules')).sort()
      assert.deepEqual(deployed(), ['greeting', 'hello'])

      // Modules are placed while other remotes are still cloned: the one whose
      // clone fails (line 3) fails later than the bad ref (line 2) can be known,
      // or earlier; either way line 2 is the one named.
      await world.commitToControl('pipeline', (dir) =>
        writeFileSync(
          path.join(dir, 'Puppetfile'),
          `mod 'hello', :git => '${hello}', :tag => 'v1.1.0'\n` +
            `mod 'bad', :git => '${hello}', :ref => 'v9'\n` +
            `mod 'gone', :git => 'file://${world.repos}/modules/missing.git', :branch => 'main'\n` +
            `mod 'greeting', :git => '${greeting}', :branch => 'main'\n`,
        ),
      )
      const failed = await world.cli('build', '-e', 'pipeline')
      assert.equal(failed.code, 12, show(failed))
      assert.match(
        failed.stderr,
        /line 2: Unable to manage Puppetfile content 'bad': Could not resolve desired ref 'v9'/,
      )
      assert.doesNotMatch(failed.stderr, /missing\.git/)
      assert.deepEqual(
        readdirSync(environments).filter((entry) => entry.startsWith('pipeline')),
        ['pipeline'],
        'no staging or retired tree is left behind',
      )
      assert.deepEqual(deployed(), ['greeting', 'hello'])
    })

    it('a missing git exits 11 and says how to install it', async () => {
      const bin = path.join(world.dir, 'bin-without-git')
      mkdirSync(bin, {recursive: true})
      symlinkSync('/bin/bash', path.join(bin, 'bash'))
      const result = await runCli(['build', '--config', world.settingsFile], {env: {PATH: bin}})
      assert.equal(result.code, 11, show(result))
      assert.match(result.stderr, /git is not installed or not on PATH \(Debian\/Ubuntu: apt-get install git\)/)
    })

    it('an unreachable remote exits 12 and names it with its credentials hidden', async () => {
      world.settings.build.puppetcode = 'https://deploy:s3cret@127.0.0.1:9/nowhere.git'
      world.writeSettings()
      const result = await world.cli('build')
      assert.equal(result.code, 12, show(result))
      assert.match(result.stderr, /cannot clone https:\/\/deploy:\*\*\*@127\.0\.0\.1:9\/nowhere\.git/)
      assert.doesNotMatch(result.stdout + result.stderr, /s3cret/)
    })
  })
})
