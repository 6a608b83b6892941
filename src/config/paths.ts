import path from 'node:path'

import {DEFAULT_APP_CACHE, expandHome} from './home.js'
import type {Settings} from './settings.js'

/** Local directories derived from settings, with the Ruby tool's defaults. */
export function appCache(settings: Settings): string {
  return path.resolve(expandHome(settings.general.app_cache ?? DEFAULT_APP_CACHE))
}

export function buildCache(settings: Settings): string {
  return path.join(appCache(settings), 'build')
}
