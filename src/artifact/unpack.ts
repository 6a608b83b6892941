import * as tar from 'tar'

import {isDiskFull, LocalDiskError, VerificationError} from '../errors.js'
import {gunzipMember} from './gzip-member.js'
import {symlinkProblem} from './tree.js'

/**
 * An archive laid out other than FORMAT.md's: the Ruby tool's combined
 * artifact holds every environment under `puppetcode/<env>/`, and its gzip
 * header may name a file. Every entry is still checked; only those below
 * `root` are extracted, with `root/` taken off their paths.
 */
export interface ArchiveShape {
  root?: string
  gzipHeaderFields?: boolean
}

const ALLOWED_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink'])

/** Headers, padding and long-name records per entry, beyond the file contents the manifest signs. */
const OVERHEAD_PER_ENTRY = 4096
const OVERHEAD = 1024 * 1024

/**
 * Extracts a verified artifact into an empty directory, refusing anything
 * that could reach outside it or change the system: absolute paths, `..`,
 * symlinks that leave the tree, hardlinks, devices, FIFOs and set-id bits.
 * node-tar only warns about some of these, so every warning is a refusal.
 *
 * Memory stays flat whatever the archive holds: the gzip member is inflated
 * as a stream in small pieces (gunzipMember) and written to node-tar's
 * synchronous extractor piece by piece, and reading stops at the first
 * problem, or as soon as the tar stream is longer than the signed unpacked
 * size allows, before the rest of a decompression bomb is inflated. Every
 * failure of the gzip or tar reader is a refusal; a full disk is its own error.
 * The caller discards the directory when this throws.
 */
export async function unpackArtifact(
  file: string,
  dest: string,
  limits: {unpackedSize: number},
  hooks: {started?: () => void} = {},
  shape: ArchiveShape = {},
): Promise<void> {
  const {root} = shape
  const problems: string[] = []
  let diskFull: string | undefined
  let total = 0
  let entries = 0
  let seen = 0
  const failed = (error: unknown) => {
    if (isDiskFull(error) || isDiskFull((error as {cause?: unknown})?.cause)) diskFull ??= (error as Error).message
    else problems.push(`the tar reader failed: ${(error as Error)?.message ?? String(error)}`)
  }

  const unpack = new tar.UnpackSync({
    // The format is a tar in one gzip member: node-tar must not look for another compressed stream inside.
    brotli: false,
    cwd: dest,
    filter(entryPath, entry) {
      seen++
      const problem = entryProblem(entryPath, entry as tar.ReadEntry, root)
      if (problem) {
        problems.push(problem)
        return false
      }

      if (root !== undefined && !(entry as tar.ReadEntry).path.startsWith(`${root}/`)) return false

      if (++entries === 2) hooks.started?.()
      total += (entry as tar.ReadEntry).size ?? 0
      if (total > limits.unpackedSize) {
        problems.push(`archive unpacks to more than the signed ${limits.unpackedSize} bytes`)
        return false
      }

      return true
    },
    maxDepth: 256,
    noMtime: true,
    onwarn(_code, message, data) {
      if (isDiskFull(data)) diskFull ??= String(message)
      else problems.push(String(message))
    },
    preserveOwner: false,
    processUmask: 0o022,
    strict: false,
    strip: root === undefined ? 0 : root.split('/').length,
    zstd: false,
  })
  // Unrecoverable reader errors (a truncated tar) are emitted, and thrown when nobody listens.
  unpack.on('error', failed)
  const stop = () => problems.length > 0 || diskFull !== undefined
  let read = 0
  for await (const chunk of gunzipMember(file, undefined, {headerFields: shape.gzipHeaderFields})) {
    // node-tar would inflate a gzip stream found there, outside the budget below; no real tar starts with its magic.
    if (read === 0 && chunk[0] === 0x1f && chunk[1] === 0x8b) {
      problems.push('the gzip member holds another gzip stream, not a tar')
      break
    }

    read += chunk.length
    if (read > limits.unpackedSize + OVERHEAD + OVERHEAD_PER_ENTRY * seen) {
      problems.push(
        `archive holds more than the signed ${limits.unpackedSize} bytes of files allow (${read} bytes of tar read so far)`,
      )
      break
    }

    try {
      unpack.write(chunk)
    } catch (error) {
      failed(error)
    }

    if (stop()) break
  }

  if (!stop()) {
    try {
      unpack.end()
    } catch (error) {
      failed(error)
    }
  }

  if (diskFull) throw new LocalDiskError(`no room to unpack into ${dest}: ${diskFull}`)
  if (problems.length > 0) {
    throw new VerificationError(
      `artifact refused: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : ''}`,
    )
  }
}

function entryProblem(entryPath: string, entry: tar.ReadEntry, root?: string): string | undefined {
  const name = entry.path ?? entryPath
  if (!ALLOWED_TYPES.has(entry.type)) {
    return entry.type === 'Link' ? `hardlink ${name}` : `${entry.type} entry ${name}`
  }

  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return `absolute path ${name}`
  if (name.split('/').includes('..')) return `path with ".." ${name}`
  if ((entry.mode ?? 0) & 0o7000) return `set-id or sticky bits on ${name}`
  if (entry.type === 'SymbolicLink') {
    // A link must stay inside what is extracted: below `root` when only that part is.
    const inside = root !== undefined && name.startsWith(`${root}/`) ? name.slice(root.length + 1) : name
    const problem = symlinkProblem(inside.replace(/\/+$/, ''), entry.linkpath ?? '')
    if (problem) return `${name}: ${problem}`
  }

  return undefined
}
