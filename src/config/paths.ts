import path from 'node:path'

import {expandHome, type Settings} from './settings.js'

export const DEFAULT_APP_CACHE = '~/.pupistry/cache'
export const DEFAULT_PUPPETCODE = '/etc/puppetlabs/code/environments'
export const DEFAULT_ENVIRONMENT = 'production'
export const DEFAULT_KEEP_RELEASES = 3

/** Local directories derived from settings, with the Ruby tool's defaults. */
export function appCache(settings: Settings): string {
  return path.resolve(expandHome(settings.general.app_cache ?? DEFAULT_APP_CACHE))
}

export function buildCache(settings: Settings): string {
  return path.join(appCache(settings), 'build')
}

export function agentStateDir(settings: Settings): string {
  return path.join(appCache(settings), 'agent')
}

export function puppetcode(settings: Settings): string {
  return path.resolve(expandHome(settings.agent.puppetcode ?? DEFAULT_PUPPETCODE))
}

/** Releases are unpacked beside Puppet's environment path, never inside it. */
export function releasesDir(settings: Settings): string {
  const configured = settings.agent.releases
  return configured ? path.resolve(expandHome(configured)) : path.join(path.dirname(puppetcode(settings)), 'pupistry-releases')
}
