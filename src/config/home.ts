import {homedir} from 'node:os'
import path from 'node:path'

/** general.app_cache when unset, as in the Ruby tool. */
export const DEFAULT_APP_CACHE = '~/.pupistry/cache'

export function expandHome(value: string, home = homedir()): string {
  return value === '~' ? home : value.startsWith('~/') ? path.join(home, value.slice(2)) : value
}
