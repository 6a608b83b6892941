import assert from 'node:assert/strict'
import {chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {enableCompileCache, isPrivate} from './compile-cache.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-compile-cache-'))
after(() => rmSync(scratch, {force: true, recursive: true}))
const uid = process.getuid?.() ?? 0

/** Records the directory Node would have been given. */
function recorder() {
  const given: string[] = []
  const enable = (dir: string) => {
    given.push(dir)
    return {directory: dir, status: 1}
  }
  return {enable, given}
}

describe("Node's compile cache is used only in a directory no one else can write", () => {
  it('creates the directory 0700 and hands it to Node', () => {
    const dir = path.join(scratch, 'home', '.pupistry', 'cache', 'compile')
    const {enable, given} = recorder()
    assert.equal(enableCompileCache(dir, enable), dir)
    assert.deepEqual(given, [dir])
    assert.ok(isPrivate(dir, uid))
  })

  it('without the switch (Node 20) it does nothing, not even create the directory', () => {
    const dir = path.join(scratch, 'unused')
    assert.equal(enableCompileCache(dir, undefined), undefined)
    assert.throws(() => isPrivate(dir, uid), /ENOENT/)
  })

  it('refuses a directory others may write, or one they own', () => {
    const open = path.join(scratch, 'open')
    mkdirSync(open)
    chmodSync(open, 0o777)
    const {enable, given} = recorder()
    assert.equal(enableCompileCache(open, enable), undefined)
    const grouped = path.join(scratch, 'grouped')
    mkdirSync(grouped, {mode: 0o770})
    chmodSync(grouped, 0o770)
    assert.equal(enableCompileCache(grouped, enable), undefined)
    const theirs = path.join(scratch, 'theirs')
    mkdirSync(theirs, {mode: 0o700})
    chownSync(theirs, 65_534, 65_534)
    assert.equal(enableCompileCache(theirs, enable), undefined)
    assert.deepEqual(given, [])
  })

  it("creates nothing below another user's directory (root under sudo, with their HOME)", () => {
    const home = path.join(scratch, 'alice')
    mkdirSync(home, {mode: 0o755})
    chownSync(home, 65_534, 65_534)
    const {enable, given} = recorder()
    assert.equal(enableCompileCache(path.join(home, '.pupistry', 'cache', 'compile'), enable), undefined)
    assert.ok(!existsSync(path.join(home, '.pupistry')), 'nothing was created there')
    assert.deepEqual(given, [])
  })

  it('refuses a link, and a directory below one that others may write (they could swap it)', () => {
    const real = path.join(scratch, 'real')
    mkdirSync(real, {mode: 0o700})
    const link = path.join(scratch, 'link')
    symlinkSync(real, link)
    assert.equal(isPrivate(link, uid), false)
    const shared = path.join(scratch, 'shared')
    mkdirSync(shared)
    chmodSync(shared, 0o777)
    const below = path.join(shared, 'cache')
    const {enable, given} = recorder()
    assert.equal(enableCompileCache(below, enable), undefined)
    assert.deepEqual(given, [])
  })

  it('accepts a directory below a sticky directory of root (as under /tmp)', () => {
    const sticky = path.join(scratch, 'sticky')
    mkdirSync(sticky)
    chmodSync(sticky, 0o1777)
    const dir = path.join(sticky, 'cache')
    const {enable} = recorder()
    assert.equal(enableCompileCache(dir, enable), uid === 0 ? dir : undefined)
  })
})
