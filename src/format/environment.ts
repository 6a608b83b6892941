import {UsageError} from '../errors.js'

/** Puppet's own rule for environment names, with upper case as r10k leaves it: the one definition. */
export const ENVIRONMENT_NAME = '[A-Za-z0-9_]{1,100}'

export const ENVIRONMENT_PATTERN = new RegExp(`^${ENVIRONMENT_NAME}$`)

/** The name, when Puppet can use it as an environment; a usage error otherwise. */
export function checkEnvironmentName(name: string): string {
  if (!ENVIRONMENT_PATTERN.test(name)) throw new UsageError(`not a Puppet environment name: ${name}`)
  return name
}
