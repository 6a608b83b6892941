import {userInfo} from 'node:os'

/**
 * The name of the user this process runs as, or `uid-N` for a user with no
 * entry in the password database (common in containers: `docker run -u 1234`),
 * where `os.userInfo()` throws.
 */
export function currentUserName(): string {
  try {
    return userInfo().username
  } catch {
    return `uid-${process.getuid?.() ?? 'unknown'}`
  }
}
