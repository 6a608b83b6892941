import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {after, before, describe, it} from 'node:test'

import {acquireLock} from '../src/agent/lock.js'
import {startTimeOf} from '../src/agent/process-tree.js'
import {LockedError} from '../src/errors.js'
import {ROOT} from './helpers/cli.js'

describe('the agent lock', () => {
  let dir: string
  let lockFile: string
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-lock-'))
    lockFile = path.join(dir, 'apply.lock')
  })
  after(() => rmSync(dir, {force: true, recursive: true}))

  it('names its owner by pid and start time, and is gone after release', async () => {
    const lock = await acquireLock(lockFile)
    assert.deepEqual(JSON.parse(readFileSync(lockFile, 'utf8')), {pid: process.pid, started: startTimeOf(process.pid)})
    await lock.release()
    assert.deepEqual(readdirSync(dir), [], 'no lock and no temporary file left')
  })

  it("removes what lock takers that died left behind, and nothing of a live one's", async () => {
    let dead = 4_000_000
    while (startTimeOf(dead) !== undefined) dead++
    const left = [
      `apply.lock.new-${dead}-${Date.now().toString(36)}-1`,
      `apply.lock.stale-${dead}-${Date.now().toString(36)}-2`,
      `apply.lock.new-${dead}-0a1b2c3d4e5f`,
    ]
    const live = `apply.lock.new-1-${Date.now().toString(36)}-1`
    for (const name of [...left, live]) writeFileSync(path.join(dir, name), '')
    const lock = await acquireLock(lockFile)
    await lock.release()
    assert.deepEqual(readdirSync(dir), [live])
    rmSync(path.join(dir, live))
  })

  it('a lock naming a live process with another start time (a reused pid) is taken over', async () => {
    const unrelated = spawn('sleep', ['30'])
    try {
      for (const pid of [1, unrelated.pid!]) {
        writeFileSync(lockFile, `${JSON.stringify({pid, started: '1'})}\n`)
        const lock = await acquireLock(lockFile)
        assert.equal(JSON.parse(readFileSync(lockFile, 'utf8')).pid, process.pid, `pid ${pid}`)
        await lock.release()
      }
    } finally {
      unrelated.kill()
    }
  })

  it('a lock naming a live process with its own start time holds', async () => {
    const holder = spawn('sleep', ['30'])
    try {
      await new Promise((resolve) => holder.once('spawn', resolve))
      writeFileSync(lockFile, `${JSON.stringify({pid: holder.pid, started: startTimeOf(holder.pid!)})}\n`)
      await assert.rejects(
        acquireLock(lockFile),
        (error) => error instanceof LockedError && error.message.includes(`(pid ${holder.pid})`),
      )
    } finally {
      holder.kill()
      rmSync(lockFile, {force: true})
    }
  })

  it('an empty lock is being written for a few seconds, then it is stale', async () => {
    writeFileSync(lockFile, '')
    await assert.rejects(
      acquireLock(lockFile),
      (error) => error instanceof LockedError && /being written/.test(error.message),
    )
    const old = new Date(Date.now() - 60_000)
    utimesSync(lockFile, old, old)
    const lock = await acquireLock(lockFile)
    await lock.release()
  })

  it('processes racing for the lock, some dying while they hold it, never hold it together', async () => {
    const contenders = 8
    const rounds = 15
    const script = path.join(ROOT, 'test', 'fixtures', 'lock-race.mjs')
    const lockModule = pathToFileURL(path.join(ROOT, 'dist', 'agent', 'lock.js')).href
    const exits = await Promise.all(
      Array.from({length: contenders}, (_, index) => {
        const child = spawn(
          process.execPath,
          [script, lockModule, dir, String(rounds), index % 2 === 0 ? 'crash' : 'release'],
          {stdio: ['ignore', 'ignore', 'pipe']},
        )
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
        return new Promise<string>((resolve) =>
          child.on('close', (code) => resolve(`${code}${stderr ? `: ${stderr}` : ''}`)),
        )
      }),
    )
    const log = readFileSync(path.join(dir, 'log'), 'utf8')
    assert.doesNotMatch(log, /BOTH/)
    assert.deepEqual(
      exits,
      Array.from({length: contenders}, () => '0'),
    )
    assert.equal(log.split('\n').filter((line) => line.startsWith('held ')).length, contenders * rounds)
  })
})
