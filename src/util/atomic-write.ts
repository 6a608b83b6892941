import {mkdir, open, rename, rm} from 'node:fs/promises'
import path from 'node:path'

/** The infix of a temporary file of writeAtomically: FILE.tmp-PID. */
export const TEMP_INFIX = '.tmp-'

/**
 * Replaces a file with new content atomically and durably: written to a
 * temporary file next to it and flushed to disk, renamed over it, then the
 * directory flushed, so a crash or power loss leaves the old or the new
 * content, never a torn or empty file. `beforeRename` runs between the two
 * (a test's pause point). On failure the temporary file is removed.
 */
export async function writeAtomically(
  file: string,
  content: string,
  options: {mode?: number; dirMode?: number; beforeRename?: () => void} = {},
): Promise<void> {
  const dir = path.dirname(file)
  await mkdir(dir, {mode: options.dirMode, recursive: true})
  const temp = `${file}${TEMP_INFIX}${process.pid}`
  try {
    const handle = await open(temp, 'w', options.mode ?? 0o644)
    try {
      // open() applies the umask; a mode asked for is meant exactly.
      if (options.mode !== undefined) await handle.chmod(options.mode)
      await handle.writeFile(content)
      await handle.sync()
    } finally {
      await handle.close()
    }

    options.beforeRename?.()
    await rename(temp, file)
  } catch (error) {
    await rm(temp, {force: true})
    throw error
  }

  await syncDirectory(dir)
}

/** Flushes a directory's entries (a rename in it) to disk; a no-op where directories cannot be opened for that. */
async function syncDirectory(dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Some file systems refuse fsync on a directory: the rename stands, only its durability is up to them.
  } finally {
    await handle?.close()
  }
}
