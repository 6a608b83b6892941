import {createRequire} from 'node:module'

/*
 * node:crypto and node:child_process each load some thirty internal modules
 * of Node's, and a node's check with nothing new uses neither: the agent's
 * modules load them on first use instead of importing them.
 */
const require = createRequire(import.meta.url)

export const nodeCrypto = (): typeof import('node:crypto') => require('node:crypto')

export const childProcess = (): typeof import('node:child_process') => require('node:child_process')

/** A hex string of `bytes` random bytes, for names that must not collide. */
export const randomHex = (bytes: number): string => nodeCrypto().randomBytes(bytes).toString('hex')
