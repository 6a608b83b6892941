import type {Command, Hook} from '@oclif/core'

import {describeFailure} from '../cli/failure.js'
import {globalFlags} from '../cli/flags.js'

/**
 * pupistry's global flags (`-c/--config`, `-v/--verbose`) are listed for
 * every command, so a command of another plugin (`plugins`, `version`,
 * `autocomplete`) must accept them too instead of failing on a
 * "nonexistent flag". Those commands read no settings, so the flags are
 * taken out of their arguments before oclif parses them; pupistry's own
 * commands declare the flags and get their arguments unchanged.
 */
const hook: Hook<'preparse'> = async ({argv, options}) => {
  const declared = options.flags ?? {}
  const missing = Object.entries(globalFlags).filter(([name]) => !(name in declared))
  if (missing.length === 0) return argv
  reportErrorsLikePupistry(options.context as Command | undefined)
  const kept: string[] = []
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index]
    // Everything after `--` is an argument, never a flag.
    if (word === '--') return [...kept, ...argv.slice(index)]
    const flag = missing.find(([name, {char}]) => word === `--${name}` || word === `-${char}`)
    if (flag) {
      if (flag[1].type === 'option') index++
      continue
    }

    if (!missing.some(([name, {type}]) => type === 'option' && word.startsWith(`--${name}=`))) kept.push(word)
  }

  return kept
}

/**
 * Under --json oclif prints a failed command's whole error object, and a
 * parse error carries the parser's context: the entire CLI configuration
 * (paths, every plugin and command) ends up on stdout. Another plugin's
 * command reports a failure as pupistry's own commands do instead, with
 * the same exit code as without --json.
 */
function reportErrorsLikePupistry(command: Command | undefined): void {
  if (!command) return
  const toErrorJson = (error: Error) => {
    const failure = describeFailure(error)
    // oclif's JSON path exits 1 even for a bad flag; the code must be the one the JSON states.
    process.exitCode = failure.exitCode
    return {error: failure}
  }

  Object.defineProperty(command, 'toErrorJson', {value: toErrorJson})
}

export default hook
