import {StoppedError} from '../errors.js'

/**
 * Reads a secret from the terminal without echoing it; undefined when there
 * is no terminal to ask on. Ctrl-C there (a keypress in raw mode, not a
 * signal) stops the command like any interruption.
 */
export async function askSecret(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined
  // Loaded here: only a command that needs a passphrase pays for it.
  const {default: password} = await import('@inquirer/password')
  try {
    return await password(
      {mask: false, message: question.replace(/:\s*$/, '')},
      {input: process.stdin, output: process.stderr},
    )
  } catch (error) {
    if ((error as Error).name === 'ExitPromptError')
      throw new StoppedError('interrupted at the passphrase prompt: stopped; nothing was signed or published')
    throw error
  }
}
