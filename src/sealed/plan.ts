import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {listTree} from '../artifact/tree.js'
import {parseHieraConfig} from './hiera-config.js'
import {readRegistry} from './registry.js'
import {protectedFiles, type Selection, selectFiles} from './select.js'

/** The environment layer's Hiera configuration, at the root of an environment. */
export const HIERA_FILE = 'hiera.yaml'

/**
 * The sealed-data plan of one assembled environment: which files are
 * protected and which member of the registry reads which of them. Reads the
 * tree only; nothing is encrypted.
 */
export function planEnvironment(root: string, environment: string, publicGlobs: string[]): Selection {
  const hieraFile = path.join(root, HIERA_FILE)
  const members = readRegistry(root).members
  const files = listTree(root)
    .entries.filter((entry) => entry.type === 'file')
    .map((entry) => entry.path)
  if (!existsSync(hieraFile)) {
    // No environment layer: Hiera reads no data from the environment, so there is nothing to protect.
    return selectFiles({config: {datadirs: [], levels: []}, environment, files, members, protected: []})
  }

  const config = parseHieraConfig(readFileSync(hieraFile, 'utf8'), `${environment}/${HIERA_FILE}`)
  return selectFiles({config, environment, files, members, protected: protectedFiles(files, config, publicGlobs)})
}

/** `build.hieracrypt_public` as a list of globs. */
export function publicGlobs(value: string | string[] | null | undefined): string[] {
  return value === undefined || value === null ? [] : Array.isArray(value) ? value : [value]
}

/** What `hieracrypt plan` reports for an environment: names and paths only, never file contents. */
export interface EnvironmentPlan {
  environment: string
  protected: string[]
  members: Array<{kind: string; name: string; files: string[]; bundle: number}>
  bundles: Array<{files: string[]; members: string[]}>
}

export function describePlan(selection: Selection): EnvironmentPlan {
  const bundleOf = new Map(selection.bundles.flatMap((bundle, index) => bundle.members.map((m) => [m, index])))
  return {
    bundles: selection.bundles.map((bundle) => ({
      files: bundle.files,
      members: bundle.members.map((member) => `${member.kind} ${member.name}`),
    })),
    environment: selection.environment,
    members: selection.members.map(({files, member}) => ({
      bundle: bundleOf.get(member) ?? -1,
      files,
      kind: member.kind,
      name: member.name,
    })),
    protected: selection.protected,
  }
}
