import {StateFile} from '../agent/state.js'
import {agentSettingsOf} from '../config/agent-settings.js'
import type {Runtime} from '../runtime.js'

/** One sample: a metric's labels and value. */
export interface Sample {
  labels: Record<string, string>
  value: number
}

export interface Metric {
  name: string
  help: string
  type: 'gauge'
  samples: Sample[]
}

const seconds = (time?: string | null) => (time ? new Date(time).getTime() / 1000 : undefined)

/**
 * The node's own state as metrics, for a node-exporter textfile collector:
 * read from the agent state only, so shops that allow nodes no writes to the
 * store at all still see which node runs what.
 */
export async function nodeMetrics(runtime: Runtime): Promise<Metric[]> {
  const agent = agentSettingsOf(runtime.settings)
  const state = (await new StateFile(agent.stateDir).read()).environments
  const channel = agent.channel ?? 'stable'
  const metric = (name: string, help: string, pick: (entry: (typeof state)[string]) => number | undefined): Metric => ({
    help,
    name,
    samples: Object.entries(state).flatMap(([environment, entry]) => {
      const value = pick(entry)
      return value === undefined || Number.isNaN(value) ? [] : [{labels: {channel, environment}, value}]
    }),
    type: 'gauge',
  })
  return [
    {
      help: 'The release this node accepted (1 per environment), with its version and the agent version.',
      name: 'pupistry_release_info',
      samples: Object.entries(state).map(([environment, entry]) => ({
        labels: {agent: runtime.version, channel, environment, version: entry.version ?? ''},
        value: 1,
      })),
      type: 'gauge',
    },
    metric('pupistry_installed_serial', 'Serial of the newest manifest this node accepted.', (entry) => entry.serial),
    metric(
      'pupistry_last_run_exit_code',
      'Exit code of the last run (docs/exit-codes.md; 0 is success).',
      (entry) => entry.lastRunExit,
    ),
    metric('pupistry_last_run_timestamp_seconds', 'When the last run ended.', (entry) => seconds(entry.lastRunAt)),
    metric('pupistry_last_check_timestamp_seconds', 'When the node last read the store.', (entry) =>
      seconds(entry.lastCheck),
    ),
    metric('pupistry_last_success_timestamp_seconds', 'When Puppet last applied a release successfully.', (entry) =>
      seconds(entry.appliedAt),
    ),
    metric('pupistry_manifest_expiry_timestamp_seconds', 'When the manifest the node watches expires.', (entry) =>
      seconds(entry.expires),
    ),
    metric('pupistry_pinned', '1 while a rollback pins the release.', (entry) => (entry.pinned ? 1 : 0)),
  ]
}
