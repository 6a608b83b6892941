import {Errors, Flags} from '@oclif/core'

import {parseDuration} from '../config/duration.js'
import {EXIT} from '../errors.js'

/** A duration flag: seconds, or a number with a unit (30s, 10m, 1h, 7d, 2w), read by the parser settings use. */
export const durationFlag = Flags.custom<number>({
  helpValue: '<duration>',
  async parse(input) {
    const seconds = parseDuration(input)
    if (seconds !== undefined) return seconds
    // An oclif error, so a bad value reads and exits (2) like any other bad flag.
    throw new Errors.CLIError(`not a duration: ${input} (use seconds, or a number with a unit: 30s, 10m, 1h, 7d, 2w)`, {
      exit: EXIT.usage,
    })
  },
})

/** Flags every command accepts (listed under GLOBAL FLAGS); src/hooks/global-flags.ts lets other plugins' commands take them. */
export const globalFlags = {
  config: Flags.string({
    char: 'c',
    description: 'settings file (default: ./settings.yaml, ~/.pupistry/settings.yaml, /etc/pupistry/settings.yaml)',
    helpGroup: 'GLOBAL',
  }),
  verbose: Flags.boolean({
    char: 'v',
    description: 'show progress and details, and stack traces on errors',
    helpGroup: 'GLOBAL',
  }),
}
