import * as tar from 'tar'

import {isDiskFull, LocalDiskError, VerificationError} from '../errors.js'
import {symlinkProblem} from './tree.js'

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink'])

/**
 * Extracts a verified artifact into an empty directory, refusing anything
 * that could reach outside it or change the system: absolute paths, `..`,
 * symlinks that leave the tree, hardlinks, devices, FIFOs and set-id bits.
 * node-tar only warns about some of these, so every warning is a refusal.
 * The caller discards the directory when this throws.
 */
export function unpackArtifact(file: string, dest: string, limits: {unpackedSize: number}, hooks: {started?: () => void} = {}): void {
  const problems: string[] = []
  let diskFull: string | undefined
  let total = 0
  let entries = 0
  tar.x({
    cwd: dest,
    file,
    filter(entryPath, entry) {
      const problem = entryProblem(entryPath, entry as tar.ReadEntry)
      if (problem) {
        problems.push(problem)
        return false
      }

      if (++entries === 2) hooks.started?.()
      total += (entry as tar.ReadEntry).size ?? 0
      if (total > limits.unpackedSize) {
        problems.push(`archive unpacks to more than the signed ${limits.unpackedSize} bytes`)
        return false
      }

      return true
    },
    maxDepth: 256,
    noChmod: false,
    noMtime: true,
    onwarn(_code, message, data) {
      if (isDiskFull(data)) diskFull ??= String(message)
      else problems.push(String(message))
    },
    preserveOwner: false,
    processUmask: 0o022,
    strict: false,
    sync: true,
  })
  if (diskFull) throw new LocalDiskError(`no room to unpack into ${dest}: ${diskFull}`)
  if (problems.length > 0) {
    throw new VerificationError(`artifact refused: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : ''}`)
  }
}

function entryProblem(entryPath: string, entry: tar.ReadEntry): string | undefined {
  const name = entry.path ?? entryPath
  if (!ALLOWED_TYPES.has(entry.type)) {
    return entry.type === 'Link' ? `hardlink ${name}` : `${entry.type} entry ${name}`
  }

  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return `absolute path ${name}`
  if (name.split('/').includes('..')) return `path with ".." ${name}`
  if ((entry.mode ?? 0) & 0o7000) return `set-id or sticky bits on ${name}`
  if (entry.type === 'SymbolicLink') {
    const problem = symlinkProblem(name.replace(/\/+$/, ''), entry.linkpath ?? '')
    if (problem) return `${name}: ${problem}`
  }

  return undefined
}
