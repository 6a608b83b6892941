import {createHash} from 'node:crypto'
import * as tar from 'tar'

export interface ArchiveEntry {
  type: string
  size: number
  mode: number
  sha256?: string
  linkpath?: string
}

/** Path → type, size, mode and content hash of every entry, streaming (flat memory). */
export async function indexArchive(file: string): Promise<Map<string, ArchiveEntry>> {
  const entries = new Map<string, ArchiveEntry>()
  await tar.t({
    file,
    onReadEntry(entry) {
      const path = entry.path.replace(/\/+$/, '')
      const record: ArchiveEntry = {
        linkpath: entry.linkpath || undefined,
        mode: entry.mode ?? 0,
        size: entry.size ?? 0,
        type: entry.type,
      }
      entries.set(path, record)
      if (entry.type === 'File') {
        const hash = createHash('sha256')
        entry.on('data', (chunk: Buffer) => hash.update(chunk))
        entry.on('end', () => (record.sha256 = hash.digest('hex')))
      } else {
        entry.resume()
      }
    },
  })
  return entries
}

/** The contents of the named files (callers keep the set small). */
export async function readArchiveFiles(file: string, paths: Set<string>): Promise<Map<string, Buffer>> {
  const contents = new Map<string, Buffer>()
  await tar.t({
    file,
    filter: (path) => paths.has(path.replace(/\/+$/, '')),
    onReadEntry(entry) {
      const chunks: Buffer[] = []
      entry.on('data', (chunk: Buffer) => chunks.push(chunk))
      entry.on('end', () => contents.set(entry.path, Buffer.concat(chunks)))
    },
  })
  return contents
}
