import {existsSync, lstatSync, mkdirSync, realpathSync} from 'node:fs'
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
  const uid = process.getuid()
  try {
    // Nothing is created where another user could write or swap it (their home, when root runs with it under sudo).
    if (!safeFrom(existingAncestor(dir), uid)) return undefined
    mkdirSync(dir, {mode: 0o700, recursive: true})
    if (!isPrivate(dir, uid)) return undefined
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
  return own.isDirectory() && own.uid === uid && (own.mode & 0o022) === 0 && safeFrom(path.dirname(real), uid)
}

/** `dir` and every directory above it are ours or root's, and no one else may write them (a sticky one of root's may). */
function safeFrom(dir: string, uid: number): boolean {
  for (let current = realpathSync(dir); ; current = path.dirname(current)) {
    const info = lstatSync(current)
    const byOthers = (info.mode & 0o022) !== 0 && !(info.mode & 0o1000 && info.uid === 0)
    if (!info.isDirectory() || (info.uid !== uid && info.uid !== 0) || byOthers) return false
    if (path.dirname(current) === current) return true
  }
}

function existingAncestor(dir: string): string {
  let current = path.resolve(dir)
  while (!existsSync(current)) current = path.dirname(current)
  return current
}
