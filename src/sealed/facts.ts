import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

import {SealedDataError, ToolError} from '../errors.js'
import {isMap} from './hiera-config.js'

/** Registered facts as dotted names and their values: `{os: {family: X}}` → `os.family = X`. */
export function flattenFacts(facts: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const flat: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(facts)) {
    if (isMap(value)) Object.assign(flat, flattenFacts(value, `${prefix}${name}.`))
    else flat[`${prefix}${name}`] = value
  }

  return flat
}

/** Reads facts with facter, by dotted name, as Puppet would see them. */
export async function readFacts(names: string[], facter = 'facter'): Promise<Record<string, unknown>> {
  if (names.length === 0) return {}
  try {
    const {stdout} = await promisify(execFile)(facter, ['--json', ...names], {maxBuffer: 16 << 20})
    return JSON.parse(stdout) as Record<string, unknown>
  } catch (error) {
    throw new ToolError(`facter could not read the registered facts (${(error as Error).message.split('\n')[0]})`, {
      hint: 'install facter (it comes with Puppet)',
    })
  }
}

/**
 * Trusted data as `puppet apply` will have it: the certname Puppet uses for
 * this run (its own setting, or the fqdn), and the hostname and domain
 * Puppet derives from it. A run without a master is never authenticated by one.
 */
export async function readTrusted(puppet: string): Promise<Record<string, unknown>> {
  let certname: string
  try {
    const {stdout} = await promisify(execFile)(puppet, ['config', 'print', 'certname', '--section', 'user'])
    certname = stdout.trim()
  } catch (error) {
    throw new ToolError(`puppet could not say its certname (${(error as Error).message.split('\n')[0]})`, {
      hint: 'install Puppet, or set agent.puppet',
    })
  }

  const [hostname, ...domain] = certname.split('.')
  return {authenticated: 'local', certname, domain: domain.join('.'), hostname}
}

/**
 * The bundle was selected with the registered facts: if the node's live
 * facts differ, Hiera would silently fall back to less specific data, so the
 * run stops (or, with agent.hieracrypt_fact_drift: warn, says so). Only fact
 * names are reported: a fact value may be sensitive.
 */
export function factDrift(registered: Record<string, unknown>, live: Record<string, unknown>): string[] {
  const flat = flattenFacts(registered)
  return Object.keys(flat)
    .filter((name) => String(live[name] ?? '') !== String(flat[name] ?? ''))
    .sort()
}

export function driftError(environment: string, names: string[]): SealedDataError {
  return new SealedDataError(
    `${environment}: the live facts ${names.join(', ')} differ from those registered for this node; ` +
      'its sealed hiera data was selected for the registered values',
    {
      hint: 'update the facts in hieracrypt/nodes/<certname>.yaml (or agent.hieracrypt_fact_drift: warn to run anyway)',
    },
  )
}
