import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync} from 'node:fs'
import {createServer} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'
import {text} from 'node:stream/consumers'
import {pathToFileURL} from 'node:url'
import {after, describe, it} from 'node:test'

import {FileStore} from '../src/store/file-store.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-store-'))
after(() => rmSync(scratch, {force: true, recursive: true}))

describe('the file store', () => {
  const root = path.join(scratch, 'store')
  mkdirSync(root)
  const store = new FileStore(pathToFileURL(root))

  it('writes atomically and reads back, from bytes or a stream', async () => {
    await store.put('a/b/one.json', Buffer.from('one'))
    await store.put('a/b/two.bin', Readable.from([Buffer.from('tw'), Buffer.from('o')]))
    const one = await store.get('a/b/one.json')
    assert.ok(one && 'body' in one)
    assert.equal(await text(one.body), 'one')
    assert.deepEqual(
      (await store.list('a/')).map((object) => [object.key, object.size]),
      [
        ['a/b/one.json', 3],
        ['a/b/two.bin', 3],
      ],
    )
    assert.deepEqual(readdirSync(path.join(root, 'a', 'b')).sort(), ['one.json', 'two.bin'], 'no temporary files left')
  })

  it('answers a conditional read with notModified until the object changes', async () => {
    const first = await store.get('a/b/one.json')
    assert.ok(first && 'etag' in first)
    first.body.destroy()
    assert.deepEqual(await store.get('a/b/one.json', {ifNoneMatch: first.etag}), {notModified: true})
    await store.put('a/b/one.json', Buffer.from('one')) // same bytes, new object
    const changed = await store.get('a/b/one.json', {ifNoneMatch: first.etag})
    assert.ok(changed && 'body' in changed)
    changed.body.destroy()
  })

  it('create-only writes fail when the key exists, leaving it untouched', async () => {
    await store.put('m/1.json', Buffer.from('first'), {createOnly: true})
    const second = store.put('m/1.json', Buffer.from('second'), {createOnly: true})
    await assert.rejects(second, (error: Error & {reason?: string}) => error.reason === 'conflict')
    const kept = await store.get('m/1.json')
    assert.ok(kept && 'body' in kept)
    assert.equal(await text(kept.body), 'first')
    assert.deepEqual(readdirSync(path.join(root, 'm')), ['1.json'])
  })

  it('reports missing objects as undefined and refuses keys that climb out', async () => {
    assert.equal(await store.get('nope'), undefined)
    assert.equal(await store.head('nope'), undefined)
    await store.delete('nope')
    await assert.rejects(store.get('../outside'), /invalid object key/)
    await assert.rejects(store.put('/abs', Buffer.from('x')), /invalid object key/)
  })

  it('says clearly when the store directory does not exist', async () => {
    const missing = new FileStore(pathToFileURL(path.join(scratch, 'unmounted')))
    await assert.rejects(missing.get('x'), /store directory .*unmounted does not exist .*create it, or mount the share/)
  })
  it('refuses a FIFO, a directory, a socket or a link to a device at once, naming the key, and never blocks', async () => {
    const dir = path.join(root, 'pupistry', 'special')
    mkdirSync(dir, {recursive: true})
    execFileSync('mkfifo', [path.join(dir, 'fifo.json')])
    mkdirSync(path.join(dir, 'dir.json'))
    symlinkSync('/dev/zero', path.join(dir, 'zero.json'))
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'socket.json'), resolve))
    try {
      for (const [name, what] of [
        ['fifo', /it is a FIFO \(named pipe\), not a regular file/],
        ['dir', /it is a directory, not a regular file/],
        ['socket', /it is a socket or a device, not a regular file/],
        ['zero', /it is a symbolic link, and store objects must be regular files/],
      ] as const) {
        const key = `pupistry/special/${name}.json`
        // A blocking open of the FIFO would never settle: the race makes that a failure, not a hang.
        const read = Promise.race([store.get(key), new Promise((resolve) => setTimeout(resolve, 5000, 'blocked'))])
        await assert.rejects(read, (error: Error & {kind?: string}) => {
          assert.equal(error.kind, 'store')
          assert.match(error.message, new RegExp(`refusing ${key.replaceAll('.', '\\.')} in `))
          assert.match(error.message, what)
          return true
        })
      }
    } finally {
      server.close()
    }
  })
})
