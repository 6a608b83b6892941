import {createReadStream} from 'node:fs'
import {open} from 'node:fs/promises'
import {crc32, createInflateRaw} from 'node:zlib'

import {VerificationError} from '../errors.js'

/** A gzip header without optional fields (FORMAT.md: no file name), and the CRC-32 and length after the data. */
const HEADER = 10
const TRAILER = 8
const FLAGS = 3
const METHOD_DEFLATE = 8
/** gzip's optional header fields (RFC 1952): CRC-16, extra field, file name, comment; other bits are reserved. */
const FHCRC = 0x02
const FEXTRA = 0x04
const FNAME = 0x08
const FCOMMENT = 0x10
const RESERVED = 0xe0
/** A longer header (a file name or comment past this) is refused rather than searched for. */
const MAX_HEADER = 64 * 1024

const refused = (what: string) => new VerificationError(`artifact refused: the archive ${what}`)

/**
 * The tar stream inside an artifact, in pieces of at most `chunkSize` bytes.
 * FORMAT.md allows exactly one gzip member with a plain 10-byte header, so a
 * plain tar, optional header fields, a second member, trailing bytes and a
 * bad CRC-32 or length are all refused. zlib's own gunzip would accept
 * several members, and skip zero bytes after them, so the member is taken
 * apart here and only the deflate data goes to zlib. Inflating a stream, not
 * a whole buffer, keeps memory flat whatever the compression ratio.
 */
export async function* gunzipMember(
  file: string,
  chunkSize = 64 * 1024,
  options: {headerFields?: boolean} = {},
): AsyncGenerator<Buffer> {
  const header = Buffer.alloc(MAX_HEADER)
  const trailer = Buffer.alloc(TRAILER)
  const handle = await open(file, 'r')
  let size: number
  try {
    size = (await handle.stat()).size
    // Deflate data is at least 2 bytes, so a header and a trailer alone are too short as well.
    if (size <= HEADER + TRAILER) throw refused(`is ${size} bytes long, too short for a gzip file`)
    await handle.read(header, 0, Math.min(MAX_HEADER, size - TRAILER), 0)
    await handle.read(trailer, 0, TRAILER, size - TRAILER)
  } finally {
    await handle.close()
  }

  if (header[0] !== 0x1f || header[1] !== 0x8b)
    throw refused('is not gzip-compressed; the format is a gzip-compressed tar')
  if (header[2] !== METHOD_DEFLATE) throw refused(`uses gzip compression method ${header[2]}, not deflate`)
  if (header[FLAGS] !== 0 && !options.headerFields)
    throw refused(
      `has gzip header flags ${header[FLAGS]} (a file name, comment or extra field); the format allows none`,
    )

  const start = headerLength(header.subarray(0, Math.min(MAX_HEADER, size - TRAILER)))
  const deflated = size - start - TRAILER
  if (deflated < 2) throw refused('has no compressed data after its gzip header')
  const source = createReadStream(file, {end: size - TRAILER - 1, highWaterMark: chunkSize, start})
  const inflate = createInflateRaw({chunkSize})
  source.on('error', (error) => inflate.destroy(error))
  source.pipe(inflate)
  let crc = 0
  let length = 0
  try {
    for await (const chunk of inflate) {
      crc = crc32(chunk as Buffer, crc)
      length += (chunk as Buffer).length
      yield chunk as Buffer
    }
  } catch (error) {
    throw refused(`is not a valid gzip stream (${(error as Error).message})`)
  } finally {
    source.destroy()
    inflate.destroy()
  }

  // zlib stops at the end of the deflate data and ignores what follows: a second member or trailing bytes.
  if (inflate.bytesWritten !== deflated) {
    throw refused(
      `has ${deflated - inflate.bytesWritten} bytes after its compressed data (a second gzip member or ` +
        `trailing bytes); the format allows one member`,
    )
  }

  if (trailer.readUInt32LE(0) !== crc >>> 0) throw refused('fails its gzip CRC-32 check')
  if (trailer.readUInt32LE(4) !== length % 2 ** 32)
    throw refused('has a gzip trailer whose length does not match its data')
}

/**
 * Where the deflate data starts: after the fixed header and the optional
 * fields its flags announce. Only the Ruby tool's artifacts may have them
 * (`gzip FILE` records the file name); FORMAT.md's own artifacts have none.
 */
function headerLength(header: Buffer): number {
  const flags = header[FLAGS]
  if (flags & RESERVED) throw refused(`has reserved gzip header flags ${flags}`)
  let at = HEADER
  const past = (end: number) => {
    if (end > header.length) throw refused('has a gzip header longer than its optional fields allow')
    return end
  }

  if (flags & FEXTRA) {
    past(at + 2)
    at = past(at + 2 + header.readUInt16LE(at))
  }

  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue
    const end = header.indexOf(0, at)
    if (end < 0) throw refused('has a gzip header longer than its optional fields allow')
    at = end + 1
  }

  if (flags & FHCRC) at = past(at + 2)
  return at
}
