import assert from 'node:assert/strict'
import {lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {overlayRelease} from './materialise.js'

/** Every entry under a directory: a link as `-> target`, a directory as `/`, a file as its size. */
function listing(root: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const child of readdirSync(root, {recursive: true}).map(String).sort()) {
    // Node 20's recursive listing goes through links to directories: what is behind a link is not the overlay's.
    if (Object.keys(found).some((key) => found[key].startsWith('->') && child.startsWith(`${key}/`))) continue
    const full = path.join(root, child)
    const info = lstatSync(full)
    found[child] = info.isSymbolicLink() ? `-> ${readlinkSync(full)}` : info.isDirectory() ? '/' : `${info.size}`
  }

  return found
}

describe('overlayRelease: a --noop environment directory with the candidate sealed files', () => {
  let dir: string
  let release: string
  let sealed: string
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-overlay-'))
    release = path.join(dir, 'release')
    sealed = path.join(dir, 'sealed')
    for (const sub of ['manifests', 'modules/m', 'data/role', 'data/nodes'])
      mkdirSync(path.join(release, sub), {recursive: true})
    writeFileSync(path.join(release, 'manifests', 'site.pp'), 'node default {}\n')
    writeFileSync(path.join(release, 'hiera.yaml'), 'version: 5\n')
    writeFileSync(path.join(release, 'data', 'common.yaml'), 'public: 1\n')
    // The live links a real run made: the candidate replaces one and no longer reads the other.
    symlinkSync(
      path.join(sealed, 'production', 'current', 'data', 'role', 'web.yaml'),
      path.join(release, 'data', 'role', 'web.yaml'),
    )
    symlinkSync(
      path.join(sealed, 'production', 'current', 'data', 'nodes', 'old.yaml'),
      path.join(release, 'data', 'nodes', 'old.yaml'),
    )
  })
  after(() => rmSync(dir, {force: true, recursive: true}))

  it('links the release, shows the candidate files in place of the live links, and changes no release file', async () => {
    const before = listing(release)
    const overlay = path.join(dir, 'overlay')
    const links = new Map([
      ['data/role/web.yaml', '/scratch/role-web'],
      ['data/nodes/a.yaml', '/scratch/node-a'],
      ['data/new/deep/x.yaml', '/scratch/deep'],
    ])
    await overlayRelease({links, overlayDir: overlay, releaseDir: release, sealedDir: sealed})
    assert.deepEqual(listing(overlay), {
      data: '/',
      'data/common.yaml': `-> ${path.join(release, 'data', 'common.yaml')}`,
      'data/new': '/',
      'data/new/deep': '/',
      'data/new/deep/x.yaml': '-> /scratch/deep',
      'data/nodes': '/',
      'data/nodes/a.yaml': '-> /scratch/node-a',
      'data/role': '/',
      'data/role/web.yaml': '-> /scratch/role-web',
      'hiera.yaml': `-> ${path.join(release, 'hiera.yaml')}`,
      manifests: `-> ${path.join(release, 'manifests')}`,
      modules: `-> ${path.join(release, 'modules')}`,
    })
    assert.deepEqual(listing(release), before)
  })
})
