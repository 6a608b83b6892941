import {existsSync} from 'node:fs'
import path from 'node:path'

import {appCache} from './paths.js'
import {durationSeconds, expandHome, type Settings} from './settings.js'

/** The agent's settings with their defaults (the Ruby tool's where it had one), written once. */
export const AGENT_DEFAULTS = {
  environment: 'production',
  /** agent.daemon_frequency, seconds: the daemon's and the timer's interval. */
  interval: 300,
  keepReleases: 3,
  puppetcode: '/etc/puppetlabs/code/environments',
  runTimeout: 3600,
  /** Without agent.daemon_splay, runs are spread over this fraction of the interval. */
  splayFraction: 0.1,
  stopTimeout: 60,
} as const

/** After asking Puppet's process group to stop, how long before it is killed outright. */
export const PUPPET_KILL_GRACE_SECONDS = 10

const FALLBACK_PUPPET = '/opt/puppetlabs/bin/puppet'

export interface AgentSettings {
  /** agent.channel: the channel of the environment the node follows (not yet checked as a name); stable when unset. */
  channel?: string
  /** agent.rollout_id: the id phased rollouts place this node by, instead of its machine id. */
  rolloutId?: string
  /** The environment a node applies, unless a command names another (not yet checked as a name). */
  environment: string
  /** Seconds between daemon runs, and the random splay added to each. */
  interval: number
  splay: number
  /** agent.daemon_minimal: skip Puppet when nothing changed. */
  minimal: boolean
  /** Seconds a stopping daemon waits for Puppet, and the longest a run may take. */
  stopTimeout: number
  runTimeout: number
  keepReleases: number
  /** Puppet's environment path, where `<environment>` links to the active release. */
  puppetcode: string
  /** Where releases are unpacked: beside Puppet's environment path, never inside it. */
  releases: string
  /** The agent's state file, lock and Puppet record. */
  stateDir: string
}

/** The agent's settings resolved, with defaults. */
export function agentSettingsOf(settings: Settings): AgentSettings {
  const {agent} = settings
  const seconds = (value: number | string | null | undefined, fallback: number) =>
    value === undefined || value === null ? fallback : durationSeconds(value)
  const interval = agent.daemon_frequency ?? AGENT_DEFAULTS.interval
  const puppetcode = path.resolve(expandHome(agent.puppetcode ?? AGENT_DEFAULTS.puppetcode))
  return {
    channel: agent.channel ?? undefined,
    environment: agent.environment ?? AGENT_DEFAULTS.environment,
    interval,
    keepReleases: agent.keep_releases ?? AGENT_DEFAULTS.keepReleases,
    minimal: Boolean(agent.daemon_minimal),
    puppetcode,
    releases: agent.releases
      ? path.resolve(expandHome(agent.releases))
      : path.join(path.dirname(puppetcode), 'pupistry-releases'),
    rolloutId: agent.rollout_id ?? undefined,
    runTimeout: seconds(agent.run_timeout, AGENT_DEFAULTS.runTimeout),
    splay: seconds(agent.daemon_splay, interval * AGENT_DEFAULTS.splayFraction),
    stateDir: path.join(appCache(settings), 'agent'),
    stopTimeout: seconds(agent.stop_timeout, AGENT_DEFAULTS.stopTimeout),
  }
}

/** `puppet` from settings (agent.puppet), PATH, or the puppetlabs packages' location. */
export function puppetCommand(settings: Settings): string {
  const configured = settings.agent.puppet
  if (configured) return configured
  const onPath = (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(path.join(dir, 'puppet')))
  return !onPath && existsSync(FALLBACK_PUPPET) ? FALLBACK_PUPPET : 'puppet'
}
