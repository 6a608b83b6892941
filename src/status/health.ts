import {StateFile} from '../agent/state.js'
import {agentSettingsOf} from '../config/agent-settings.js'
import {EXIT} from '../errors.js'
import {checkEnvironmentName} from '../format/environment.js'
import type {Runtime} from '../runtime.js'

export interface Health {
  environment: string
  healthy: boolean
  /** Why it is not healthy; empty when it is. */
  problems: string[]
  appliedAt?: string
  appliedVersion?: string
  lastRunAt?: string
  lastRunExit?: number
  pinned?: string
}

/**
 * For monitoring: is the node converging? Reads only the agent's state file
 * (no store access), so it answers fast even while the store is down.
 * Unhealthy: never applied successfully, the last successful apply older
 * than maxAge seconds, or the last run failed or was interrupted (until a
 * later run completes).
 */
export async function checkHealth(
  runtime: Runtime,
  options: {environments?: string[]; maxAge?: number; now?: Date},
): Promise<Health[]> {
  const now = options.now ?? new Date()
  const agent = agentSettingsOf(runtime.settings)
  const state = (await new StateFile(agent.stateDir).read()).environments
  const environments = options.environments ?? [checkEnvironmentName(agent.environment)]
  return environments.map((environment) => {
    const entry = state[environment]
    const problems: string[] = []
    if (!entry?.appliedAt) {
      problems.push('Puppet has never applied a release successfully on this node')
    } else if (
      options.maxAge !== undefined &&
      now.getTime() - new Date(entry.appliedAt).getTime() > options.maxAge * 1000
    ) {
      problems.push(`the last successful apply (${entry.appliedAt}) is older than ${options.maxAge} s`)
    }

    if (entry?.lastRunExit === EXIT.stopped) {
      problems.push(
        `the last run (${entry.lastRunAt}) was interrupted (exit code ${EXIT.stopped}): ${entry.lastError ?? 'no message recorded'}`,
      )
    } else if (entry?.lastRunExit !== undefined && entry.lastRunExit !== 0) {
      problems.push(
        `the last run (${entry.lastRunAt}) failed with exit code ${entry.lastRunExit}: ${entry.lastError ?? 'no message recorded'}`,
      )
    }

    return {
      appliedAt: entry?.appliedAt,
      appliedVersion: entry?.appliedVersion,
      environment,
      healthy: problems.length === 0,
      lastRunAt: entry?.lastRunAt,
      lastRunExit: entry?.lastRunExit,
      pinned: entry?.pinned?.version,
      problems,
    }
  })
}
