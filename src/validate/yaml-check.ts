import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {load, YAMLException} from 'js-yaml'

import type {PuppetProblem} from './puppet-tool.js'

/**
 * YAML syntax of each file, as Hiera would read it: duplicate keys are
 * allowed (the last wins, as in Ruby's parser), anything that does not parse is a problem.
 */
export async function yamlProblems(root: string, files: string[]): Promise<PuppetProblem[]> {
  const problems: PuppetProblem[] = []
  for (const file of files) {
    const text = await readFile(path.join(root, file), 'utf8')
    try {
      load(text, {filename: file, json: true})
    } catch (error) {
      if (!(error instanceof YAMLException)) throw error
      problems.push({file, line: error.mark ? error.mark.line + 1 : undefined, message: error.reason})
    }
  }

  return problems
}
