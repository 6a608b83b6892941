import {createInterface} from 'node:readline'

/** Reads a line from the terminal without echoing it; undefined when there is no TTY. */
export async function askSecret(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined
  const rl = createInterface({input: process.stdin, output: process.stderr, terminal: true})
  const output = rl as unknown as {_writeToOutput: (text: string) => void; output: NodeJS.WriteStream}
  process.stderr.write(question)
  output._writeToOutput = () => {}
  try {
    return await new Promise<string>((resolve) => {
      rl.question('', (answer) => resolve(answer))
    })
  } finally {
    rl.close()
    process.stderr.write('\n')
  }
}
