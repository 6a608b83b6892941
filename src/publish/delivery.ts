import {STABLE_CHANNEL} from '../format/channel.js'
import type {Manifest} from '../format/manifest.js'

/** How push and promote deliver: to which channel, and to what share of its nodes. */
export interface DeliveryOptions {
  channel?: string
  /** Percent of the channel's nodes that install the release; 100 (or absent) is all of them. */
  rollout?: number
}

/** The manifest members of delivery (format-2 features: a stable push to all nodes has none). */
export type DeliveryMembers = Pick<Manifest, 'channel' | 'rollout'>

/** " on channel C", or nothing for stable: for messages. */
export function onChannel(channel: string): string {
  return channel === STABLE_CHANNEL ? '' : ` on channel ${channel}`
}

/**
 * The members a new manifest gets. A rollout names the release it replaces
 * (the live one) as the one the other nodes keep; a refresh keeps the
 * rollout of what is live unless a new share is given.
 */
export function deliveryMembers(
  channel: string,
  rollout: number | undefined,
  live: Manifest | undefined,
  refresh: boolean,
): DeliveryMembers {
  const members: DeliveryMembers = {}
  if (channel !== STABLE_CHANNEL) members.channel = channel
  const previous = refresh
    ? (live?.rollout?.previous ?? null)
    : live
      ? {serial: live.serial, version: live.version}
      : null
  if (rollout === undefined) {
    if (refresh && live?.rollout) members.rollout = live.rollout
  } else if (rollout < 100) {
    members.rollout = {percent: rollout, previous}
  }

  return members
}
