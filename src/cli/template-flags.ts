import {Flags} from '@oclif/core'

import {SCHEDULES} from '../templates/context.js'

/** Flags shared by `bootstrap` and `packer`: the values that go into the context next to the settings. */
export const templateFlags = {
  'allow-build-credentials': Flags.boolean({
    description: 'when only build credentials are set, give them to nodes (they can write the store: avoid)',
  }),
  environment: Flags.string({
    char: 'e',
    description: 'environment the node applies (default: agent.environment, else production)',
  }),
  schedule: Flags.string({
    default: 'daemon',
    description: 'how the node runs pupistry: a service running `apply --daemon`, or a timer running `apply --minimal`',
    options: [...SCHEDULES],
  }),
}
