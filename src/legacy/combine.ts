import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {mkdir, mkdtemp, readdir, rename, rm, stat} from 'node:fs/promises'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import * as tar from 'tar'

import {packTree} from '../artifact/pack.js'
import {legacyArtifactName, parseLegacyName} from './layout.js'

export interface CombinedArtifact {
  file: string
  /** MD5 of the uncompressed tar: the Ruby tool's version. */
  version: string
  size: number
}

/**
 * The Ruby tool's single artifact: every environment under
 * `puppetcode/<env>/`, made from the environments' own built artifacts.
 * They are unpacked side by side and packed again with the deterministic
 * packer, so the same builds give the same tar and so the same MD5 version
 * (the Ruby agent's "nothing changed" test). Only the newest combined
 * artifact is kept in `dir`.
 */
export async function packCombined(
  parts: {environment: string; file: string}[],
  dir: string,
): Promise<CombinedArtifact> {
  await mkdir(dir, {mode: 0o750, recursive: true})
  const work = await mkdtemp(path.join(dir, '.combine-'))
  try {
    const tree = path.join(work, 'tree')
    for (const {environment, file} of parts) {
      const cwd = path.join(tree, 'puppetcode', environment)
      await mkdir(cwd, {recursive: true})
      // Our own build cache's artifacts, made by our packer: plain extraction is enough here.
      tar.x({cwd, file, noMtime: true, preserveOwner: false, sync: true})
    }

    const packed = path.join(work, 'combined.tar.gz')
    await packTree(tree, packed)
    const version = await md5OfTar(packed)
    const file = path.join(dir, legacyArtifactName(version))
    await rename(packed, file)
    for (const name of await readdir(dir)) {
      if (name !== path.basename(file) && parseLegacyName(name)?.kind === 'artifact') await rm(path.join(dir, name))
    }

    return {file, size: (await stat(file)).size, version}
  } finally {
    await rm(work, {force: true, recursive: true})
  }
}

async function md5OfTar(file: string): Promise<string> {
  const hash = createHash('md5')
  await pipeline(createReadStream(file), createGunzip(), hash)
  return hash.digest('hex')
}
