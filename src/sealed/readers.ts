import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {fingerprintOf} from './crypto.js'
import type {Member} from './registry.js'

/**
 * The public keys of an environment's sealed-hiera readers, as the last
 * build found them in the registry: the nodes' keys double as their report
 * keys, so `fleet` verifies reports against them (docs/delivery.md).
 */
export interface Reader {
  kind: Member['kind']
  name: string
  /** The current key, and the next one during a rotation. */
  keys: {fingerprint: string; key: string}[]
}

const READERS_FILE = 'readers.json'

/** Kept beside the build record; revoked readers are left out, so their reports are no longer believed. */
export async function writeReaders(dir: string, members: Member[], mode: number): Promise<void> {
  const readers: Reader[] = []
  for (const member of members.filter((each) => !each.revoked)) {
    const where = `the registry entry of ${member.kind} ${member.name}`
    const keys = await Promise.all(
      member.keys.map(async (key) => ({fingerprint: await fingerprintOf(key, where), key})),
    )
    readers.push({keys, kind: member.kind, name: member.name})
  }

  await writeFile(path.join(dir, READERS_FILE), `${JSON.stringify(readers)}\n`, {mode})
}

/** The readers of the environment's last sealed build, or undefined when it had none (or no sealed hiera). */
export async function readReaders(dir: string): Promise<Reader[] | undefined> {
  const text = await readFile(path.join(dir, READERS_FILE), 'utf8').catch(() => undefined)
  return text === undefined ? undefined : (JSON.parse(text) as Reader[])
}
