import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {unpackArtifact} from '../src/artifact/unpack.js'
import {craftArchive, type CraftEntry} from './helpers/craft.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-legacy-unpack-'))
after(() => rmSync(scratch, {force: true, recursive: true}))

let count = 0
async function unpackRoot(entries: CraftEntry[]): Promise<string> {
  const file = path.join(scratch, `a-${++count}.tar.gz`)
  writeFileSync(file, craftArchive(entries))
  const dest = path.join(scratch, `d-${count}`)
  mkdirSync(dest)
  await unpackArtifact(file, dest, {unpackedSize: 10_000}, {}, {gzipHeaderFields: true, root: 'puppetcode/production'})
  return dest
}

const dirs: CraftEntry[] = [
  {path: 'puppetcode/', type: 'Directory'},
  {path: 'puppetcode/production/', type: 'Directory'},
  {path: 'puppetcode/production/manifests/', type: 'Directory'},
]

describe('unpacking one environment of the Ruby tool’s combined artifact', () => {
  it('extracts puppetcode/<env>/ as the root, and nothing of the other environments', async () => {
    const dest = await unpackRoot([
      ...dirs,
      {content: 'node default {}\n', path: 'puppetcode/production/manifests/site.pp'},
      {path: 'puppetcode/staging/', type: 'Directory'},
      {content: 'other\n', path: 'puppetcode/staging/x.pp'},
      {content: 'beside\n', path: 'puppetcode/production-not/y.pp'},
    ])
    assert.deepEqual(readdirSync(dest), ['manifests'])
    assert.ok(existsSync(path.join(dest, 'manifests', 'site.pp')))
  })

  it('refuses a link that stays in the archive but leaves the environment', async () => {
    await assert.rejects(
      unpackRoot([
        ...dirs,
        {linkpath: '../../staging/x.pp', path: 'puppetcode/production/manifests/l', type: 'SymbolicLink'},
      ]),
      /points outside the tree/,
    )
  })

  it('checks every entry, also those of other environments', async () => {
    await assert.rejects(
      unpackRoot([...dirs, {content: 'x', path: 'puppetcode/staging/../../../evil'}]),
      /path with "\.\."/,
    )
    await assert.rejects(
      unpackRoot([...dirs, {linkpath: 'puppetcode/production/manifests', path: 'puppetcode/staging/h', type: 'Link'}]),
      /hardlink/,
    )
  })
})
