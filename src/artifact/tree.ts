import {lstatSync, readdirSync, readlinkSync} from 'node:fs'
import path from 'node:path'

/** Names that never go into an artifact: VCS data and r10k's timestamped deploy record. */
const EXCLUDED = new Set(['.git', '.r10k-deploy.json'])

export interface TreeEntry {
  /** Path relative to the tree root, '/'-separated. */
  path: string
  type: 'dir' | 'file' | 'symlink'
  size: number
  /** 0755 when the source had any execute bit (or is a directory), 0644 otherwise. */
  mode: number
}

export interface TreeListing {
  entries: TreeEntry[]
  /** Sockets, FIFOs and devices that were left out. */
  skipped: string[]
  unpackedSize: number
}

/** UTF-8 byte order, not locale order: the same names sort the same everywhere. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/**
 * Lists a tree in a fixed order (depth first, each directory's names in
 * byte order) with normalised modes. A symlink must stay
 * inside the tree (checked with the same rule the agent applies), so that a
 * build never produces an artifact every node would refuse. `exclude` leaves
 * paths out (sealed hiera data), directories with all they hold.
 */
export function listTree(root: string, exclude?: (relative: string) => boolean): TreeListing {
  const entries: TreeEntry[] = []
  const skipped: string[] = []
  let unpackedSize = 0
  const walk = (relative: string): void => {
    const names = readdirSync(path.join(root, relative)).sort(byteOrder)
    for (const name of names) {
      if (EXCLUDED.has(name)) continue
      const rel = relative ? `${relative}/${name}` : name
      if (exclude?.(rel)) continue
      const full = path.join(root, rel)
      const info = lstatSync(full)
      if (info.isDirectory()) {
        entries.push({mode: 0o755, path: rel, size: 0, type: 'dir'})
        walk(rel)
      } else if (info.isFile()) {
        entries.push({mode: info.mode & 0o111 ? 0o755 : 0o644, path: rel, size: info.size, type: 'file'})
        unpackedSize += info.size
      } else if (info.isSymbolicLink()) {
        const target = readlinkSync(full)
        const problem = symlinkProblem(rel, target)
        if (problem) throw Object.assign(new Error(`${full}: ${problem}`), {code: 'EUNSAFELINK'})
        entries.push({mode: 0o777, path: rel, size: 0, type: 'symlink'})
      } else {
        skipped.push(rel)
      }
    }
  }

  walk('')
  return {entries, skipped, unpackedSize}
}

/**
 * A symlink is safe when its target is relative, and any `..` comes only
 * first (climbing real directories, never through another link) and stays
 * inside the tree. Returns why it is unsafe, or undefined.
 */
export function symlinkProblem(linkPath: string, target: string): string | undefined {
  if (target.startsWith('/')) return `symlink to absolute path ${target}`
  const parts = target.split('/').filter((part) => part !== '' && part !== '.')
  let ups = 0
  while (parts[ups] === '..') ups++
  if (parts.slice(ups).includes('..')) return `symlink target ${target} has ".." after a name`
  const depth = linkPath.split('/').length - 1
  if (ups > depth) return `symlink to ${target} points outside the tree`
  return undefined
}
