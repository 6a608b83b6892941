import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {ROOT, run} from './helpers/cli.js'

/**
 * What a user does with a release: `npm pack`, then `npm i -g` of that one
 * file into a prefix of its own. Offline: everything comes from the tarball
 * (its bundled plugins and dependencies) or the npm cache, nothing from a
 * registry, because the workspace plugins are never published on their own.
 */
describe('one tarball installs with its bundled plugins', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pupistry-pack-'))
  after(() => rmSync(dir, {force: true, recursive: true}))

  it('npm pack, npm i -g --offline into a temporary prefix, then pupistry runs', async () => {
    const {version} = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}
    await run('npm', ['pack', '--pack-destination', dir], {cwd: ROOT})
    const tarball = path.join(dir, `pupistry-${version}.tgz`)
    const prefix = path.join(dir, 'prefix')
    const home = path.join(dir, 'home')
    mkdirSync(home)
    await run('npm', ['install', '--global', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], {cwd: dir})

    // Run from elsewhere, with only the prefix's bin and the system on PATH: nothing of this checkout is used.
    const env = {HOME: home, NO_COLOR: '1', PATH: `${path.join(prefix, 'bin')}:/usr/bin:/bin`}
    const pupistry = path.join(prefix, 'bin', 'pupistry')
    assert.match(await run(pupistry, ['--version'], {cwd: home, env}), new RegExp(`^pupistry/${version.replaceAll('.', '\\.')} `))
    const providers = await run(pupistry, ['providers'], {cwd: home, env})
    for (const plugin of ['@pupistry/r10k', '@pupistry/s3', '@pupistry/openpgp', '@pupistry/gpg']) {
      assert.match(providers, new RegExp(`${plugin}@${version.replaceAll('.', '\\.')} \\(core\\)`), providers)
    }

    const installed = path.join(prefix, 'lib', 'node_modules', 'pupistry')
    assert.doesNotMatch(readFileSync(path.join(installed, 'oclif.manifest.json'), 'utf8'), /"\/root\/|"\/home\//, 'no build machine home in the manifest')
  })
})
