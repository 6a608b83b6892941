import {UsageError} from '../errors.js'

/**
 * Channels of an environment (canary, stable, any name). `stable` is the
 * channel of `latest.json`, the pointer every node read before channels
 * existed, and of a manifest that names no channel: a stable push stays
 * readable by format-1 nodes.
 */
export const STABLE_CHANNEL = 'stable'

export const CHANNEL_NAME = '[a-z0-9][a-z0-9_-]{0,49}'

export const CHANNEL_PATTERN = new RegExp(`^${CHANNEL_NAME}$`)

/** The name, when it can name a channel; a usage error otherwise. */
export function checkChannelName(name: string): string {
  if (!CHANNEL_PATTERN.test(name))
    throw new UsageError(`not a channel name: ${name} (lower-case letters, digits, _ and -, at most 50)`)
  return name
}

/** The channel a manifest was signed for: the one it names, or stable. */
export function channelOf(manifest: {channel?: string}): string {
  return manifest.channel ?? STABLE_CHANNEL
}
