import path from 'node:path'

import {agentSettingsOf} from '../config/agent-settings.js'
import {expandHome, type Settings} from '../config/settings.js'

/** Defaults of the node side of sealed hiera, written once. */
export const SEALED_DEFAULTS = {
  /** A memory filesystem on most systems: sealed data never reaches a disk. */
  sealedDir: '/run/pupistry/sealed',
  /** The node's secret key: 0600, in a 0700 directory under /etc/pupistry. */
  nodeKeyFile: '/etc/pupistry/node/node.secret.asc',
} as const

export interface SealedNodeSettings {
  sealedDir: string
  /** agent.sealed_dir_on_disk: the operator accepts a sealed_dir that is not a memory filesystem. */
  allowDisk: boolean
  nodeKeyFile: string
  /** The next key of a rotation (`node rotate`), beside the current one. */
  nextKeyFile: string
  factDrift: 'fail' | 'warn'
  /** agent.group_keys: secret keys of the groups this node belongs to (hieracrypt/groups/), tried after its own. */
  groupKeyFiles: string[]
  /** Where the agent keeps verified ciphertext, so a reboot re-materialises without the store. */
  cacheDir: string
}

export function sealedNodeSettings(settings: Settings): SealedNodeSettings {
  const {agent} = settings
  const nodeKeyFile = path.resolve(expandHome(agent.node_key_file ?? SEALED_DEFAULTS.nodeKeyFile))
  const groups = agent.group_keys
  const groupKeyFiles = groups === undefined || groups === null ? [] : Array.isArray(groups) ? groups : [groups]
  return {
    allowDisk: Boolean(agent.sealed_dir_on_disk),
    cacheDir: path.join(agentSettingsOf(settings).stateDir, 'sealed'),
    factDrift: agent.hieracrypt_fact_drift ?? 'fail',
    groupKeyFiles: groupKeyFiles.map((file) => path.resolve(expandHome(file))),
    nextKeyFile: nodeKeyFile.replace(/(\.secret)?\.asc$/, '.next$1.asc'),
    nodeKeyFile,
    sealedDir: path.resolve(expandHome(agent.sealed_dir ?? SEALED_DEFAULTS.sealedDir)),
  }
}
