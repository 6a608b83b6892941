import path from 'node:path'

import {PermissionDeniedError} from '../errors.js'
import {agentSettingsOf} from './agent-settings.js'
import {appCache} from './paths.js'
import type {Settings} from './settings.js'
import {currentUserName} from '../util/user.js'

/** A local path pupistry uses, and the setting or flag that chose it, for messages about it. */
export interface PathSource {
  path: string
  /** `general.app_cache`, `--dir`, ... */
  source: string
}

/** The local directories the settings choose. */
export function settingsPaths(settings: Settings): PathSource[] {
  const sources: PathSource[] = [{path: appCache(settings), source: 'general.app_cache'}]
  try {
    const agent = agentSettingsOf(settings)
    sources.push({path: agent.releases, source: 'agent.releases'}, {path: agent.puppetcode, source: 'agent.puppetcode'})
  } catch {
    // Settings without a usable agent section choose no agent paths.
  }

  return sources
}

/**
 * Turns EACCES/EPERM/EROFS on a path into a message that names the path, the
 * setting or flag it comes from (the deepest one containing it) and the fix.
 */
export function permissionDenied(
  error: NodeJS.ErrnoException & {dest?: string},
  sources: PathSource[],
): PermissionDeniedError {
  // A copy or rename names two paths: the one a setting or flag chose is the one to talk about.
  const paths = [error.dest, error.path].filter((entry): entry is string => entry !== undefined)
  const matches = paths.map((entry) => ({from: sourceOf(path.resolve(entry), sources), where: entry}))
  const {from, where} = matches.find((entry) => entry.from) ?? matches[0] ?? {}
  const user = currentUserName()
  const action = error.syscall ? `${error.syscall} ` : ''
  const what = where === undefined ? error.message : `${action}${where}`
  const readOnly = error.code === 'EROFS' ? ' (a read-only file system)' : ''
  const message = `permission denied: user ${user} may not ${what}${readOnly}${from ? `, which comes from ${from.source}` : ''}`
  const hint = from
    ? `run as a user who may write ${from.path} (on nodes: root), or ${
        from.source.startsWith('--') ? 'give' : 'set'
      } ${from.source} to a place ${user} may write`
    : `check the permissions of ${where ?? 'that path'}, or run as a user who may use it`
  return new PermissionDeniedError(message, {cause: error, hint})
}

/** The deepest source whose path holds the target, else one below it (a parent that could not be made). */
function sourceOf(target: string, sources: PathSource[]): PathSource | undefined {
  const within = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}${path.sep}`)
  const resolved = sources.map((entry) => ({...entry, path: path.resolve(entry.path)}))
  const holding = resolved.filter((entry) => within(target, entry.path)).sort((a, b) => b.path.length - a.path.length)
  return holding[0] ?? resolved.find((entry) => within(entry.path, target))
}
