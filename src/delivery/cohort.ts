import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'

import {SettingsError} from '../errors.js'

/**
 * A node's place in a release's rollout, in [0, 1): the first 48 bits of
 * SHA-256(version, node id). The same node and release always give the same
 * place, so a node in the cohort at 10 % stays in it at 50 %; another
 * release gives every node a new place, so the same nodes are not always first.
 */
export function cohortPlace(version: string, nodeId: string): number {
  const digest = createHash('sha256').update(`pupistry-rollout\0${version}\0${nodeId}`).digest()
  return digest.readUIntBE(0, 6) / 2 ** 48
}

/** Whether a node installs a release that rolls out to `percent` % of the fleet. */
export function inCohort(version: string, nodeId: string, percent: number): boolean {
  return cohortPlace(version, nodeId) < percent / 100
}

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
