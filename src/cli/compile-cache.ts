import {lstatSync, mkdirSync, realpathSync} from 'node:fs'
import module from 'node:module'
import path from 'node:path'

import {DEFAULT_APP_CACHE, expandHome} from '../config/home.js'

/** Node's compile cache switch (22.1 and later); undefined on Node 20. */
type EnableCompileCache = (dir: string) => {status: number; directory?: string}

/** Where the agent keeps it: in the default general.app_cache, since settings are not read yet when it is switched on. */
export const compileCacheDir = (): string => path.join(expandHome(DEFAULT_APP_CACHE), 'compile')

/**
 * Switches on Node's compile cache, so that the next check with nothing new
 * reuses the code V8 compiled this time instead of compiling every module
 * again. Whoever may write that directory, or rename it or one of its
 * parents, could make us run code of their choosing (as root on a node), so
 * the cache is used only when the directory is ours, and neither it nor
 * any parent can be written by another user (a root-owned sticky parent,
 * as /tmp, is fine). Returns the directory in use, or undefined.
 */
export function enableCompileCache(
  dir = compileCacheDir(),
  enable = (module as {enableCompileCache?: EnableCompileCache}).enableCompileCache,
): string | undefined {
  if (!enable || typeof process.getuid !== 'function') return undefined
  try {
    mkdirSync(dir, {mode: 0o700, recursive: true})
    if (!isPrivate(dir, process.getuid())) return undefined
  } catch {
    return undefined
  }
  return enable(dir).directory
}

/** The directory is ours, not a link, and no one else can write it or any directory above it. */
export function isPrivate(dir: string, uid: number): boolean {
  if (lstatSync(dir).isSymbolicLink()) return false
  const real = realpathSync(dir)
  const own = lstatSync(real)
  if (!own.isDirectory() || own.uid !== uid || (own.mode & 0o022) !== 0) return false
  for (let parent = path.dirname(real); ; parent = path.dirname(parent)) {
    const info = lstatSync(parent)
    const byOthers = (info.mode & 0o022) !== 0 && !(info.mode & 0o1000 && info.uid === 0)
    if (!info.isDirectory() || (info.uid !== uid && info.uid !== 0) || byOthers) return false
    if (path.dirname(parent) === parent) return true
  }
}
