import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {run, show} from '../../../test/helpers/cli.js'
import {World} from '../../../test/helpers/world.js'
import {buildRecord, buildWith, EDGE_FIXTURE} from './helpers.js'

describe('the native assembler builds the same artifacts as r10k (same SHA-256)', () => {
  describe("on the project's fixture (test/fixtures/make-control-repo.sh)", () => {
    let world: World
    const control = () => `file://${world.repos}/control.git`
    before(async () => {
      world = await World.create({noKeys: true})
    })
    after(() => world.cleanup())

    it('every branch, as r10k names it', async () => {
      const r10k = await buildWith(world.dir, 'r10k', control())
      const native = await buildWith(world.dir, 'native', control())
      assert.equal(r10k.result.code, 0, show(r10k.result))
      assert.equal(native.result.code, 0, show(native.result))
      assert.deepEqual(Object.keys(native.versions), ['feature_x', 'production', 'staging'])
      assert.deepEqual(native.versions, r10k.versions)
      assert.match(native.result.stderr, /branch "feature-x" is deployed as environment "feature_x"/)
    })

    it('reports the modules as ref@commit, the control commit and the tools', () => {
      const record = buildRecord(world.dir, 'native', 'production')
      assert.match(record.build.modules.hello, /^v1\.0\.0@[0-9a-f]{40}$/)
      assert.match(record.build.modules.greeting, /^main@[0-9a-f]{40}$/)
      assert.equal(record.build.commit, buildRecord(world.dir, 'r10k', 'production').build.commit)
      assert.match(record.build.tools.git, /^\d+\.\d+/)
      assert.equal(record.build.tools.native, '3.0.0-alpha.1')
    })

    it('follows changes in the same caches: a module moved to another tag, one removed, a file added', async () => {
      await world.commitToControl('staging', (dir) => {
        const puppetfile = path.join(dir, 'Puppetfile')
        const text = readFileSync(puppetfile, 'utf8').replace("'v1.0.0'", "'v1.1.0'")
        writeFileSync(puppetfile, text.slice(0, text.indexOf("mod 'greeting'")))
        writeFileSync(path.join(dir, 'data', 'extra.yaml'), 'extra: true\n')
      })
      const r10k = await buildWith(world.dir, 'r10k', control())
      const native = await buildWith(world.dir, 'native', control())
      assert.equal(native.result.code, 0, show(native.result))
      assert.deepEqual(native.versions, r10k.versions)
      assert.match(buildRecord(world.dir, 'native', 'staging').build.modules.hello, /^v1\.1\.0@/)
      assert.equal(buildRecord(world.dir, 'native', 'staging').build.modules.greeting, undefined)
    })

    it(
      'a no-change rebuild runs one git ls-remote per remote whose refs can move (the control repo, ' +
        'branches), none for a remote pinned to tags, and nothing per environment or module',
      async () => {
        const bin = path.join(world.dir, 'counting-bin')
        const log = path.join(world.dir, 'git.log')
        mkdirSync(bin, {recursive: true})
        writeFileSync(path.join(bin, 'git'), `#!/bin/sh\necho "$*" >> '${log}'\nexec /usr/bin/git "$@"\n`)
        chmodSync(path.join(bin, 'git'), 0o755)
        const env = {PATH: `${bin}:${process.env.PATH}`}
        const before = await buildWith(world.dir, 'native', control(), {env})
        rmSync(log, {force: true})
        const again = await buildWith(world.dir, 'native', control(), {env})
        assert.equal(again.result.code, 0, show(again.result))
        assert.deepEqual(again.versions, before.versions)
        const calls = readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .filter((line) => line !== '--version')
        assert.deepEqual(
          calls.sort(),
          [
            `ls-remote --heads --tags file://${world.repos}/control.git`,
            `ls-remote --heads --tags file://${world.repos}/modules/greeting.git`,
          ],
          calls.join('\n'),
        )
      },
    )

    it('leaves a tag it already has where it is, as r10k does, even when the remote moved it', async () => {
      const hello = path.join(world.repos, 'modules', 'hello.git')
      const moved = (await run('git', ['--git-dir', hello, 'rev-parse', 'v1.0.0^{commit}'])).trim()
      await run('git', ['--git-dir', hello, 'tag', '-f', 'v1.0.0', 'v1.1.0'])
      try {
        const r10k = await buildWith(world.dir, 'r10k', control())
        const native = await buildWith(world.dir, 'native', control())
        assert.equal(native.result.code, 0, show(native.result))
        assert.deepEqual(native.versions, r10k.versions)
        assert.equal(buildRecord(world.dir, 'native', 'production').build.modules.hello, `v1.0.0@${moved}`)
      } finally {
        await run('git', ['--git-dir', hello, 'tag', '-f', 'v1.0.0', moved])
      }
    })
  })

  describe(
    'on a control repo using the whole Puppetfile subset (tags, commits, :control_branch, :local, ' +
      'install_path, moduledir, odd branch names)',
    () => {
      let dir: string
      let control: string
      before(async () => {
        dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-native-edge-'))
        control = `file://${(await run('bash', [EDGE_FIXTURE, path.join(dir, 'repos')])).trim()}`
      })
      after(() => rmSync(dir, {force: true, recursive: true}))

      it('every branch gives the artifact r10k gives', async () => {
        const r10k = await buildWith(dir, 'r10k', control)
        const native = await buildWith(dir, 'native', control)
        assert.equal(r10k.result.code, 0, show(r10k.result))
        assert.equal(native.result.code, 0, show(native.result))
        // r10k corrects branch names byte by byte: the two bytes of é become two underscores.
        assert.deepEqual(Object.keys(native.versions), [
          'a_b',
          'caf__',
          'fallback',
          'feature_odd',
          'production',
          'release_1_2',
        ])
        assert.deepEqual(native.versions, r10k.versions)
      })

      it(
        "keeps what r10k keeps: files the control repo tracks in the module directory, a module's export-ignore files, " +
          'its line endings as .gitattributes asks',
        () => {
          const production = path.join(dir, 'cache-native', 'providers', 'native', 'environments', 'production')
          assert.equal(
            readFileSync(path.join(production, 'modules', 'README.md'), 'utf8'),
            'tracked, and r10k keeps it\n',
          )
          assert.equal(
            readFileSync(path.join(production, 'modules', 'alpha', 'extras', 'notes.txt'), 'utf8'),
            'left out by git archive, kept by a checkout\n',
          )
          assert.equal(
            readFileSync(path.join(production, 'modules', 'alpha', 'files', 'version.txt'), 'utf8'),
            'version $Format:%H$\n',
          )
          // A checkout converts line endings as .gitattributes asks.
          assert.equal(
            readFileSync(path.join(production, 'modules', 'alpha', 'files', 'crlf.txt'), 'utf8'),
            'two\r\nlines\r\n',
          )
        },
      )

      it('resolves :control_branch to the branch, and falls back to :default_branch', () => {
        assert.match(buildRecord(dir, 'native', 'feature_odd').build.modules.delta, /^feature\/odd@[0-9a-f]{40}$/)
        assert.match(buildRecord(dir, 'native', 'production').build.modules.delta, /^production@[0-9a-f]{40}$/)
        assert.match(buildRecord(dir, 'native', 'fallback').build.modules.delta, /^main@[0-9a-f]{40}$/)
        assert.match(buildRecord(dir, 'native', 'production').build.modules.gamma, /^[0-9a-f]{40}$/)
      })

      it('-e takes a branch or an environment name, and a missing one exits 12', async () => {
        const chosen = await buildWith(dir, 'native', control, {args: ['-e', 'feature_odd', '-e', 'release-1.2']})
        assert.equal(chosen.result.code, 0, show(chosen.result))
        assert.deepEqual(Object.keys(chosen.versions).sort(), ['feature_odd', 'release_1_2'])
        const missing = await buildWith(dir, 'native', control, {args: ['-e', 'nosuchbranch']})
        assert.equal(missing.result.code, 12, show(missing.result))
        assert.match(missing.result.stderr, /has no branch for environment "nosuchbranch"/)
      })
    },
  )
})
