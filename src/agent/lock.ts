import {link, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout} from 'node:timers/promises'

import {LockedError} from '../errors.js'
import {type ProcessId, startTimeOf, thisProcess} from './process-tree.js'

export interface Lock {
  release(): Promise<void>
}

/**
 * How long an empty or unreadable lock is taken for one being written: a
 * pupistry before 3.0 created the file first and wrote its pid after.
 */
const UNREADABLE_GRACE_MS = 5000
const ATTEMPTS = 20

interface Seen {
  dev: number
  ino: number
  owner?: {pid: number; started?: string}
  ageMs: number
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The lock's content: `{"pid":…,"started":"…"}`, or a bare pid from older versions. */
function ownerOf(text: string): Seen['owner'] {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return {pid: Number(trimmed)}
  try {
    const parsed = JSON.parse(trimmed) as {pid?: unknown; started?: unknown}
    if (Number.isInteger(parsed.pid) && (parsed.pid as number) > 0) {
      return {pid: parsed.pid as number, started: typeof parsed.started === 'string' ? parsed.started : undefined}
    }
  } catch {
    // Not ours, or half-written.
  }

  return undefined
}

async function look(file: string): Promise<Seen | undefined> {
  try {
    const info = await stat(file)
    const text = await readFile(file, 'utf8').catch(() => '')
    return {ageMs: Date.now() - info.mtimeMs, dev: info.dev, ino: info.ino, owner: ownerOf(text)}
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** The live process holding the lock, or undefined when the lock is stale. */
function holder(seen: Seen): number | undefined {
  const {owner} = seen
  // Empty or unreadable: an older pupistry may be between creating and writing it.
  if (!owner) return seen.ageMs < UNREADABLE_GRACE_MS ? 0 : undefined
  if (owner.pid === process.pid) return undefined
  if (owner.started === undefined) return alive(owner.pid) ? owner.pid : undefined
  const started = startTimeOf(owner.pid)
  // Without /proc the start time cannot be compared: a live pid holds the lock.
  if (started === undefined) return alive(owner.pid) && !hasProc() ? owner.pid : undefined
  return started === owner.started ? owner.pid : undefined
}

function hasProc(): boolean {
  return startTimeOf(process.pid) !== undefined
}

let named = 0
/**
 * A name no other run uses: a pid belongs to one live process, the clock
 * tells a reused pid (after a reboot too) apart, the count this run's names.
 * (Random bytes would load node:crypto on every check for this alone.)
 */
const unique = (file: string, what: string) => `${file}.${what}-${process.pid}-${Date.now().toString(36)}-${++named}`

/**
 * One apply at a time per node. The lock file names its owner by pid and
 * start time, and appears complete at once: it is written under a temporary
 * name and hard-linked into place (link fails if the lock exists). A lock
 * whose owner is gone (kill -9, crash, a reboot that reused the pid) is
 * taken over: renamed aside under a unique name, checked to be the very
 * file judged stale, then replaced by a link of our own.
 */
export async function acquireLock(file: string): Promise<Lock> {
  const me: ProcessId = thisProcess()
  const temp = unique(file, 'new')
  await writeFile(temp, `${JSON.stringify(me)}\n`, {flag: 'wx', mode: 0o600})
  const mine = await stat(temp)
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        await link(temp, file)
        await cleanLeftovers(file)
        return {release: () => releaseLock(file, mine.dev, mine.ino)}
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }

      const seen = await look(file)
      if (!seen) continue
      const owner = holder(seen)
      if (owner !== undefined) {
        throw new LockedError(
          owner === 0
            ? `another pupistry apply is taking the lock on this node (lock ${file} is being written)`
            : `another pupistry apply (pid ${owner}) is running on this node (lock ${file})`,
        )
      }

      await takeOver(file, temp, seen)
    }
  } finally {
    await rm(temp, {force: true})
  }

  throw new LockedError(`could not take the lock ${file}: other processes keep taking it`)
}

/**
 * Removes a stale lock, unless it turns out to be another file than the one
 * judged stale. Takeovers are serialized by a second lock (FILE.takeover,
 * taken the same way), so two takers never both remove: one removes the
 * stale lock, the other then finds the first one's live lock.
 */
async function takeOver(file: string, temp: string, stale: Seen): Promise<void> {
  const mutex = `${file}.takeover`
  try {
    await link(temp, mutex)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    // Another takeover is under way; one whose taker died (a moment's window) is cleared.
    const other = await look(mutex)
    if (other && holder(other) === undefined) await moveAsideIfSame(mutex, other)
    else await setTimeout(20)
    return
  }

  try {
    const again = await look(file)
    if (again && again.dev === stale.dev && again.ino === stale.ino) await moveAsideIfSame(file, stale)
  } finally {
    await rm(mutex, {force: true})
  }
}

/** Renames a file aside and removes it if it is the one expected; otherwise puts it back. */
async function moveAsideIfSame(file: string, expected: Seen): Promise<void> {
  const aside = unique(file, 'stale')
  try {
    await rename(file, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }

  const moved = await stat(aside)
  if (moved.dev !== expected.dev || moved.ino !== expected.ino) await link(aside, file).catch(() => {})
  await rm(aside, {force: true})
}

/**
 * Removes the temporary files (FILE.new-PID-…, FILE.stale-PID-…) of lock
 * takers that died, named as unique() names them or, by earlier versions,
 * with random hex after the pid.
 */
async function cleanLeftovers(file: string): Promise<void> {
  const base = path.basename(file)
  for (const name of await readdir(path.dirname(file)).catch(() => [] as string[])) {
    const match = name.startsWith(base)
      ? /^\.(?:new|stale)-(\d+)-[0-9a-z]+(?:-\d+)?$/.exec(name.slice(base.length))
      : null
    if (match && !alive(Number(match[1]))) await rm(path.join(path.dirname(file), name), {force: true})
  }
}

/** Removes the lock if it is still this one. */
async function releaseLock(file: string, dev: number, ino: number): Promise<void> {
  const current = await stat(file).catch(() => undefined)
  if (current && current.dev === dev && current.ino === ino) await rm(file, {force: true})
}
