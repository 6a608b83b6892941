import {posix} from 'node:path'

import {minimatch} from 'minimatch'

import {byteOrder} from '../artifact/tree.js'
import {HieraSelectionError} from '../errors.js'
import {type HieraConfig, type HieraLevel, within} from './hiera-config.js'
import {InterpolationProblem, interpolate, lookupVariable, type NodeScope} from './interpolate.js'
import type {Member} from './registry.js'

/** What one member of the registry can read in one environment. */
export interface MemberSelection {
  member: Member
  /** Protected files (environment-relative paths, byte order) its hierarchy reads. */
  files: string[]
}

/** Members that read exactly the same files share one bundle. */
export interface BundlePlan {
  files: string[]
  members: Member[]
}

export interface Selection {
  environment: string
  /** Every protected file of the environment: left out of the artifact. */
  protected: string[]
  members: MemberSelection[]
  bundles: BundlePlan[]
}

/**
 * The protected files of a tree: every file under a data directory of the
 * hierarchy, except those the `build.hieracrypt_public` globs name.
 */
export function protectedFiles(files: string[], config: HieraConfig, publicGlobs: string[]): string[] {
  return files
    .filter((file) => config.datadirs.some((dir) => within(posix.dirname(file), dir)))
    .filter((file) => !publicGlobs.some((glob) => minimatch(file, glob, {dot: true})))
    .sort(byteOrder)
}

/** Does the member read this environment (not revoked, and listed when it names environments)? */
export function readsEnvironment(member: Member, environment: string): boolean {
  return !member.revoked && (member.environments === undefined || member.environments.includes(environment))
}

/**
 * For each member, the exact set of protected files its hierarchy can
 * read: every level expanded with the member's registered facts, as Hiera
 * would at run time, intersected with the files that exist.
 */
export function selectFiles(input: {
  environment: string
  config: HieraConfig
  /** Every regular file of the environment tree, environment-relative. */
  files: string[]
  protected: string[]
  members: Member[]
}): Selection {
  const existing = new Set(input.protected)
  const members: MemberSelection[] = []
  for (const member of input.members) {
    if (!readsEnvironment(member, input.environment)) continue
    const scope: NodeScope = {environment: input.environment, facts: member.facts, trusted: member.trusted}
    const chosen = new Set<string>()
    for (const level of input.config.levels) {
      for (const file of levelFiles(level, scope, member, input.files)) if (existing.has(file)) chosen.add(file)
    }

    members.push({files: [...chosen].sort(byteOrder), member})
  }

  const byFiles = new Map<string, BundlePlan>()
  for (const {files, member} of members) {
    const id = files.join('\n')
    const bundle = byFiles.get(id) ?? {files, members: []}
    bundle.members.push(member)
    byFiles.set(id, bundle)
  }

  const bundles = [...byFiles.values()].sort((a, b) => byteOrder(a.files.join('\n'), b.files.join('\n')))
  return {bundles, environment: input.environment, members, protected: input.protected}
}

/** The files (environment-relative) one level names for a member. */
function levelFiles(level: HieraLevel, scope: NodeScope, member: Member, files: string[]): string[] {
  const expand = (template: string, extra?: Record<string, unknown>): string | undefined => {
    try {
      return interpolate(template, extra ? {...scope, variables: extra} : scope)
    } catch (error) {
      if (!(error instanceof InterpolationProblem)) throw error
      // A group stands for nodes enrolled by key, not by name: levels of single certnames are not theirs to read.
      if (member.kind === 'group' && /certname|clientcert/.test(template)) return undefined
      throw new HieraSelectionError(
        `${member.kind} ${member.name}, hierarchy level "${level.name}": ${error.message}`,
        {
          hint: `add the value to the facts of ${member.kind === 'node' ? 'hieracrypt/nodes' : 'hieracrypt/groups'}/${member.name}.yaml`,
        },
      )
    }
  }

  const inDatadir = (relative: string): string => {
    const joined = posix.normalize(posix.join(level.datadir, relative))
    if (joined.startsWith('../') || joined === '..' || posix.isAbsolute(relative)) {
      throw new HieraSelectionError(
        `${member.kind} ${member.name}, hierarchy level "${level.name}": ${relative} leaves the environment`,
      )
    }

    return joined
  }

  const {paths} = level
  if (paths.kind === 'path') {
    return paths.templates
      .map((template) => expand(template))
      .filter(isString)
      .map(inDatadir)
  }

  if (paths.kind === 'glob') {
    const patterns = paths.templates
      .map((template) => expand(template))
      .filter(isString)
      .map(inDatadir)
    return files.filter((file) => patterns.some((pattern) => minimatch(file, pattern)))
  }

  const values = lookupVariable(paths.variable, scope)
  if (values === undefined || values === null || (typeof values === 'object' && !Array.isArray(values))) {
    throw new HieraSelectionError(
      `${member.kind} ${member.name}, hierarchy level "${level.name}": mapped_paths needs ${paths.variable} ` +
        'to be a list (or a single value) in the registered facts',
    )
  }

  const list = Array.isArray(values) ? values : [values]
  return list
    .map((value) => expand(paths.template, {[paths.key]: value}))
    .filter(isString)
    .map(inDatadir)
}

function isString(value: string | undefined): value is string {
  return value !== undefined
}
