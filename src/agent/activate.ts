import {agentSettingsOf} from '../config/agent-settings.js'
import type {Runtime} from '../runtime.js'
import {shortVersion as short} from '../util/version.js'
import {pausePoint} from './pause.js'
import type {Releases} from './releases.js'
import type {RunControl} from './run.js'

/** Makes a complete release directory the active one, then removes releases beyond agent.keep_releases. */
export async function activateRelease(
  runtime: Runtime,
  job: {control: RunControl; environment: string; releases: Releases; signal?: AbortSignal},
  dir: string,
  version: string,
  what: string,
): Promise<void> {
  const {environment, releases} = job
  // The last moment a stopping agent abandons the run: activation and its record are quick and atomic.
  job.signal?.throwIfAborted()
  pausePoint('committed')
  await releases.activate(environment, dir)
  job.control.reached.activated = version
  pausePoint('activated')
  runtime.log.info(`${environment}: activated ${what}`)
  const removed = await releases.prune(environment, agentSettingsOf(runtime.settings).keepReleases)
  if (removed.length > 0)
    runtime.log.progress(`${environment}: removed old releases ${removed.map((each) => short(each)).join(', ')}`)
}
