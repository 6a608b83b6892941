import {Errors, Flags} from '@oclif/core'

import {parseDuration} from '../config/duration.js'
import {EXIT} from '../errors.js'
import {CHANNEL_PATTERN} from '../format/channel.js'

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

/** A channel of an environment (stable when not given). */
export const channelFlag = Flags.custom<string>({
  helpValue: '<channel>',
  async parse(input) {
    if (CHANNEL_PATTERN.test(input)) return input
    throw new Errors.CLIError(`not a channel name: ${input} (lower-case letters, digits, _ and -, at most 50)`, {
      exit: EXIT.usage,
    })
  },
})

/** --rollout PERCENT: the share of a channel's nodes that install a release. */
export const rolloutFlag = Flags.integer({
  description:
    'phase the release in: only this percent (0 to 100) of the nodes install it, chosen by a hash of release ' +
    'and node id; the others keep the release they run (0 halts, 100 completes; widen with --refresh)',
  helpValue: '<percent>',
  max: 100,
  min: 0,
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
