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
