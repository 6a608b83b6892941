import {createHash} from 'node:crypto'
import {lstatSync, readdirSync, readFileSync, readlinkSync} from 'node:fs'
import path from 'node:path'

import * as tar from 'tar'

/** What an artifact holds, entry by entry: "file <sha256> <exec bit>", "dir" or "link <target>". */
export async function artifactListing(file: string): Promise<Map<string, string>> {
  const listing = new Map<string, string>()
  const pending: Array<Promise<void>> = []
  await tar.t({
    file,
    onReadEntry(entry) {
      const name = entry.path.replace(/\/+$/, '').replace(/^\.\//, '')
      if (!name || name === '.') return entry.resume()
      if (entry.type === 'Directory') {
        listing.set(name, 'dir')
        return entry.resume()
      }

      if (entry.type === 'SymbolicLink') {
        listing.set(name, `link ${entry.linkpath}`)
        return entry.resume()
      }

      const hash = createHash('sha256')
      pending.push(
        new Promise((resolve) => {
          entry.on('data', (chunk: Buffer) => hash.update(chunk))
          entry.on('end', () => {
            listing.set(name, `file ${hash.digest('hex')} ${((entry.mode ?? 0) & 0o100) !== 0}`)
            resolve()
          })
        }),
      )
    },
  })
  await Promise.all(pending)
  return listing
}

/** The same listing for a directory on disk. */
export function treeListing(root: string): Map<string, string> {
  const listing = new Map<string, string>()
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name)
      const rel = prefix ? `${prefix}/${name}` : name
      const info = lstatSync(full)
      if (info.isSymbolicLink()) listing.set(rel, `link ${readlinkSync(full)}`)
      else if (info.isDirectory()) {
        listing.set(rel, 'dir')
        walk(full, rel)
      } else
        listing.set(
          rel,
          `file ${createHash('sha256').update(readFileSync(full)).digest('hex')} ${(info.mode & 0o100) !== 0}`,
        )
    }
  }

  walk(root, '')
  return listing
}

/** Differences between two listings, as readable lines (empty when they match). */
export function compareListings(expected: Map<string, string>, actual: Map<string, string>): string[] {
  const problems: string[] = []
  for (const [name, what] of expected) {
    if (actual.get(name) !== what) problems.push(`${name}: expected ${what}, found ${actual.get(name) ?? 'nothing'}`)
  }

  for (const name of actual.keys()) if (!expected.has(name)) problems.push(`${name}: not in the artifact`)
  return problems
}
