import {readFile, stat} from 'node:fs/promises'

import {SealedDataError} from '../errors.js'
import {secretKeyFingerprint} from './crypto.js'
import type {SealedNodeSettings} from './node-settings.js'

export interface NodeKey {
  file: string
  secretKey: string
  fingerprint: string
}

/**
 * The node's secret keys, in the order they are tried: its own (required
 * unless it has group keys), the next one of a rotation (when present), then
 * its groups' keys (agent.group_keys). A key others can read is refused: it would hand
 * them this node's secrets.
 */
export async function loadNodeKeys(settings: SealedNodeSettings): Promise<NodeKey[]> {
  const groups = await Promise.all(settings.groupKeyFiles.map((file) => loadKey(file)))
  // A node enrolled only through a group (an autoscaling group) has no key of its own.
  const own = await loadKey(settings.nodeKeyFile).catch((error: unknown) => {
    if ((error as {missing?: boolean}).missing && groups.length > 0) return undefined
    throw error
  })
  const next = await loadKey(settings.nextKeyFile).catch((error: unknown) => {
    if ((error as {missing?: boolean}).missing) return undefined
    throw error
  })
  return [own, next, ...groups].filter((key): key is NodeKey => key !== undefined)
}

async function loadKey(file: string): Promise<NodeKey> {
  const info = await stat(file).catch(() => undefined)
  if (!info)
    throw Object.assign(
      new SealedDataError(`the node key ${file} is missing`, {
        hint: 'run `pupistry node init` on this node and commit the registry file it prints (agent.node_key_file)',
      }),
      {missing: true},
    )
  if ((info.mode & 0o077) !== 0 || (process.getuid?.() === 0 && info.uid !== 0)) {
    throw new SealedDataError(
      `the node key ${file} can be read or written by others (mode ${(info.mode & 0o777).toString(8)}); refused`,
      {hint: `chown root:root ${file} && chmod 600 ${file}`},
    )
  }

  const secretKey = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new SealedDataError(`the node key ${file} cannot be read (${error.code ?? error.message})`)
  })
  return {file, fingerprint: await secretKeyFingerprint(secretKey, `the node key ${file}`), secretKey}
}
