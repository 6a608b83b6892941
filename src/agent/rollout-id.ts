import {readFileSync} from 'node:fs'

import {SettingsError} from '../errors.js'

export const MACHINE_ID_FILE = '/etc/machine-id'

/**
 * The id a node's cohort place is computed from: `agent.rollout_id` (so a
 * group of nodes phases together), else the machine id systemd writes.
 */
export function rolloutId(configured: string | null | undefined, machineIdFile = MACHINE_ID_FILE): string {
  if (configured) return configured
  let id: string
  try {
    id = readFileSync(machineIdFile, 'utf8').trim()
  } catch (error) {
    throw new SettingsError(
      `a phased rollout needs this node's id, but ${machineIdFile} cannot be read (${(error as NodeJS.ErrnoException).code})`,
      {hint: 'set agent.rollout_id to a stable id of this node (or of the group it phases with)'},
    )
  }

  if (!id) throw new SettingsError(`${machineIdFile} is empty`, {hint: 'set agent.rollout_id'})
  return id
}
