import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {parseDocument} from '../vendor/yaml.js'

import type {PuppetProblem} from './puppet-tool.js'

/**
 * YAML syntax of each file, as Hiera would read it: duplicate keys are
 * allowed (the last wins, as in Ruby's parser), anything that does not parse is a problem.
 */
export async function yamlProblems(root: string, files: string[]): Promise<PuppetProblem[]> {
  const problems: PuppetProblem[] = []
  for (const file of files) {
    const text = await readFile(path.join(root, file), 'utf8')
    // Plain messages: a pretty one quotes the file's lines, and hiera data must not reach the output.
    const [error] = parseDocument(text, {prettyErrors: false, uniqueKeys: false}).errors
    if (error) problems.push({file, line: lineAt(text, error.pos[0]), message: error.message})
  }

  return problems
}

/** The 1-based line of a character offset. */
function lineAt(text: string, offset: number): number {
  let line = 1
  for (let index = text.indexOf('\n'); index !== -1 && index < offset; index = text.indexOf('\n', index + 1)) line++
  return line
}
