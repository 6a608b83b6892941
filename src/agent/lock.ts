import {open, readFile, rm} from 'node:fs/promises'

import {LockedError} from '../errors.js'

export interface Lock {
  release(): Promise<void>
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * One apply at a time per node: an exclusively created file holding the
 * owner's pid. A lock whose owner is dead (kill -9, crash) is taken over.
 */
export async function acquireLock(file: string): Promise<Lock> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      return {release: () => rm(file, {force: true})}
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }

    const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10)
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new LockedError(`another pupistry apply (pid ${owner}) is running on this node (lock ${file})`)
    }

    // Stale (or half-written) lock from a process that is gone.
    await rm(file, {force: true})
  }

  throw new LockedError(`could not take the lock ${file}: other processes keep taking it`)
}
