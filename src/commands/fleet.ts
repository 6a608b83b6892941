import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {channelFlag, durationFlag} from '../cli/flags.js'
import {parseFleetCheck} from '../delivery/fleet-check.js'
import {assertFleetChecks, DEFAULT_STALE_SECONDS, fleet, type FleetResult} from '../delivery/fleet.js'
import {checkEnvironmentName} from '../format/environment.js'
import {formatFleet} from '../formatters/fleet.js'

export default class Fleet extends BaseCommand<typeof Fleet> {
  static override enableJsonFlag = true
  static override description =
    `Show which node runs what, from the signed reports nodes write to the store.

Each report is verified against the node's report public key, registered on the build side as ` +
    `general.report_keys/<node id>.asc. Flags: forged (signed by another key, or naming another node than ` +
    `where it is stored), unsigned, unregistered (no key for that id), invalid, stale (older than --stale), ` +
    `failing (last run did not succeed), expired (the node runs an expired manifest). --check exits 41 when ` +
    `the fleet does not meet a threshold.`

  static override examples = [
    '<%= config.bin %> fleet',
    '<%= config.bin %> fleet -e production --channel canary',
    "<%= config.bin %> fleet -e production --check 'canary:ok>=95%,age<=1h'",
  ]
  static override flags = {
    channel: channelFlag({description: 'only nodes following this channel'}),
    check: Flags.string({
      description: "exit 41 unless the nodes meet it: '[channel:]ok>=N%,age<=DURATION' (repeatable)",
      multiple: true,
    }),
    environment: Flags.string({char: 'e', description: 'only reports of this environment'}),
    stale: durationFlag({description: 'a report older than this is stale (default 2h)'}),
  }

  async run(): Promise<FleetResult> {
    const {environment} = this.flags
    const checks = (this.flags.check ?? []).map((text) => parseFleetCheck(text))
    const result = await fleet(await this.runtime(), {
      channel: this.flags.channel,
      checks,
      environment: environment === undefined ? undefined : checkEnvironmentName(environment),
      stale: this.flags.stale ?? DEFAULT_STALE_SECONDS,
    })
    this.print(formatFleet(result))
    assertFleetChecks(result)
    return result
  }
}
