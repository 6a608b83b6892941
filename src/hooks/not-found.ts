import type {Hook} from '@oclif/core'
import {closest, distance} from 'fastest-levenshtein'

import {EXIT} from '../errors.js'

/**
 * An id oclif could not find, reported as the user typed it. With a space
 * as topic separator, oclif joins every word after a command that takes no
 * arguments into the id (`status production` becomes `status:production`):
 * that is an unexpected argument, not an unknown command. Anything else is
 * a typo: suggest the nearest command, but never run it (pupistry runs as
 * root, and a guess must not apply Puppet).
 */
const hook: Hook<'command_not_found'> = async function ({config, id}) {
  const words = id.split(':')
  const fail = (message: string, hint: string): void => {
    process.stderr.write(`${config.bin}: error: ${message}\nhint: ${hint}\n`)
    this.exit(EXIT.usage)
  }

  for (let length = words.length - 1; length > 0; length--) {
    const command = words.slice(0, length).join(' ')
    const found = config.findCommand(words.slice(0, length).join(':'))
    if (found) {
      // Most often an environment typed without its flag.
      const hint = found.flags.environment
        ? `did you mean \`${config.bin} ${command} --environment ${words[length]}\`? `
        : ''
      return fail(
        `unexpected argument ${words[length]}: \`${config.bin} ${command}\` takes no arguments`,
        `${hint}\`${config.bin} ${command} --help\` shows its flags`,
      )
    }
  }

  const typed = words.join(' ')
  const visible = config.commands
    .filter((command) => !command.hidden)
    .flatMap((command) => [command.id, ...command.aliases])
  const nearest = visible.length > 0 ? closest(id, visible) : undefined
  // A third of the word may be wrong: `aply`, `boostrap`, `stauts` are found, `foo` suggests nothing.
  const near = nearest !== undefined && distance(id, nearest) <= Math.max(1, Math.floor(id.length / 3))
  const topic = config.findTopic(words[0]) ? ` ${words[0]}` : ''
  const list = `\`${config.bin} help${topic}\` lists ${topic ? 'its commands' : 'every command'}`
  return fail(
    `${typed} is not a ${config.bin} command`,
    near ? `did you mean \`${config.bin} ${nearest.replaceAll(':', ' ')}\`? (${list})` : list,
  )
}

export default hook
