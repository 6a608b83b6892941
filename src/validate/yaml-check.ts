import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {parseDocument} from 'yaml'

import type {PuppetProblem} from './puppet-tool.js'

/**
 * YAML syntax of each file, as Hiera would read it: duplicate keys are
 * allowed (the last wins, as in Ruby's parser), anything that does not parse is a problem.
 */
export async function yamlProblems(root: string, files: string[]): Promise<PuppetProblem[]> {
  const problems: PuppetProblem[] = []
  for (const file of files) {
    const text = await readFile(path.join(root, file), 'utf8')
    const [error] = parseDocument(text, {prettyErrors: false, uniqueKeys: false}).errors
    if (error) problems.push({file, line: error.linePos?.[0].line, message: error.message})
  }

  return problems
}
