import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {formatPlan} from '../../formatters/hieracrypt-plan.js'
import type {EnvironmentPlan} from '../../sealed/plan.js'
import {planSealed} from '../../build/hieracrypt-plan.js'

export default class HieracryptPlan extends BaseCommand<typeof HieracryptPlan> {
  static override enableJsonFlag = true
  static override description =
    `Show which node or group can read which protected hiera files, encrypting nothing.

Assembles the control repo as build does, reads each environment's Hiera 5 hiera.yaml and the registry in ` +
    `hieracrypt/nodes/ and hieracrypt/groups/, and expands every hierarchy level with each member's registered ` +
    `facts. Prints file names only, never their contents: made for CI review of a change.`

  static override examples = [
    '<%= config.bin %> hieracrypt plan',
    '<%= config.bin %> hieracrypt plan -e production --json',
  ]
  static override flags = {
    environment: Flags.string({char: 'e', description: 'only this branch (repeatable)', multiple: true}),
  }

  async run(): Promise<EnvironmentPlan[]> {
    const plans = await planSealed(await this.runtime(), {environments: this.flags.environment})
    this.print(formatPlan(plans))
    return plans
  }
}
