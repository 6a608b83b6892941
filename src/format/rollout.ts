import {nodeCrypto} from '../util/lazy-node.js'

/**
 * A node's place in a release's rollout, in [0, 1): the first 48 bits of
 * SHA-256(version, node id). The same node and release always give the same
 * place, so a node in the cohort at 10 % stays in it at 50 %; another
 * release gives every node a new place, so the same nodes are not always first.
 */
export function cohortPlace(version: string, nodeId: string): number {
  const digest = nodeCrypto().createHash('sha256').update(`pupistry-rollout\0${version}\0${nodeId}`).digest()
  return digest.readUIntBE(0, 6) / 2 ** 48
}

/** Whether a node installs a release that rolls out to `percent` % of the fleet. */
export function inCohort(version: string, nodeId: string, percent: number): boolean {
  return cohortPlace(version, nodeId) < percent / 100
}
