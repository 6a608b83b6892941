import {createHash} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {gzipSync} from 'node:zlib'

import {Header} from 'tar'

export interface CraftEntry {
  path: string
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO'
  content?: string
  linkpath?: string
  mode?: number
}

/**
 * Writes a tar.gz entry by entry with node-tar's header encoder, so tests
 * can make the hostile archives a compromised build machine could sign.
 */
export function craftArchive(entries: CraftEntry[]): Buffer {
  return gzipSync(craftTar(entries))
}

/** The plain tar of craftArchive. */
export function craftTar(entries: CraftEntry[]): Buffer {
  const blocks: Buffer[] = []
  for (const entry of entries) {
    const body = Buffer.from(entry.content ?? '', 'utf8')
    const type = entry.type ?? 'File'
    const header = Buffer.alloc(512)
    new Header({
      devmaj: type === 'CharacterDevice' ? 1 : 0,
      devmin: type === 'CharacterDevice' ? 3 : 0,
      linkpath: entry.linkpath,
      mode: entry.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      mtime: new Date('2000-01-01T00:00:00Z'),
      path: entry.path,
      size: type === 'File' ? body.length : 0,
      type,
    }).encode(header, 0)
    blocks.push(header)
    if (type === 'File' && body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }

  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

/**
 * Puts an artifact into the build cache as if `pupistry build` had made it,
 * so `pupistry push` signs and publishes it like any other.
 */
export function stageBuild(
  appCache: string,
  environment: string,
  artifact: Buffer,
  extra: {unpackedSize?: number; files?: number} = {},
): string {
  const sha256 = createHash('sha256').update(artifact).digest('hex')
  const dir = path.join(appCache, 'build', environment)
  mkdirSync(dir, {recursive: true})
  writeFileSync(path.join(dir, `${sha256}.tar.gz`), artifact)
  const record = {
    artifact: {
      files: extra.files ?? 1,
      key: `pupistry/${environment}/artifacts/${sha256}.tar.gz`,
      sha256,
      size: artifact.length,
      unpacked_size: extra.unpackedSize ?? 1_000_000,
    },
    build: {assembler: 'test', commit: null, host: 'test', modules: {}, tools: {}, user: 'test'},
    built: new Date().toISOString(),
    environment,
    version: sha256,
  }
  writeFileSync(path.join(dir, 'build.json'), JSON.stringify(record, null, 2))
  writeFileSync(path.join(appCache, 'build', 'index.json'), JSON.stringify({environments: [environment]}))
  return sha256
}
