import {UsageError} from '../errors.js'

/** A version as people read it: its first 12 hex digits, or `none` (the placeholder given) when there is none. */
export function shortVersion(version?: string | null, none = 'none'): string {
  return version ? version.slice(0, 12) : none
}

/** A version or a prefix of it typed by a user (`rollback --to`, `push --version`): at least 4 hex digits. */
export function checkVersionPrefix(prefix: string): void {
  if (!/^[0-9a-f]{4,64}$/.test(prefix))
    throw new UsageError(`not a version (a SHA-256, or at least its first 4 hex digits): ${prefix}`)
}
