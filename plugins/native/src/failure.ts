export type FailureKind = 'assembler' | 'settings' | 'tool'

/** An error the core turns into its typed error (and exit code) by `kind`. */
export class AssemblyFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    options?: {cause?: unknown},
  ) {
    super(message, options)
  }
}

export function failure(kind: FailureKind, message: string, cause?: unknown): AssemblyFailure {
  return new AssemblyFailure(kind, message, {cause})
}

/** A URL for messages, with any password or token it carries hidden. */
export function shown(remote: string): string {
  return remote.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^/@]*)@/i,
    (_all, scheme: string, userinfo: string) =>
      `${scheme}${userinfo.includes(':') ? `${userinfo.split(':')[0]}:***` : '***'}@`,
  )
}
