import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {dump, load} from 'js-yaml'

import {unpackArtifact} from '../artifact/unpack.js'
import {BuildCache} from '../build/build-cache.js'
import type {Settings} from '../config/settings.js'
import {SettingsError, ValidationError, type ValidationProblem} from '../errors.js'
import type {BuildRecord} from '../format/manifest.js'
import type {Runtime} from '../runtime.js'
import {codeFiles} from './code-files.js'
import {type PuppetProblem, puppetProblems, ScratchPuppet} from './puppet-tool.js'
import {yamlProblems} from './yaml-check.js'

export interface EnvironmentValidation {
  environment: string
  version: string
  manifests: number
  templates: number
  yaml: number
  /** Certnames whose catalog compiled (build.validate_nodes). */
  nodes: string[]
}

/** Files per puppet invocation: one process per file costs seconds; one for thousands could pass ARG_MAX. */
const BATCH = 400

/** How many problems the message lists; `--json` (the error's details) has all of them. */
const LISTED = 20

type NodeFacts = {certname: string; facts: Record<string, unknown>}

/**
 * Checks built environments as Puppet would read them: every manifest
 * parses, every EPP template parses, hiera's YAML parses, and the catalog of
 * each node in build.validate_nodes compiles. Works on the artifact that
 * would be pushed (unpacked into a scratch directory), so what passed is
 * exactly what nodes get. Throws a ValidationError naming every problem.
 */
export async function validate(
  runtime: Runtime,
  options: {environments?: string[]; version?: string},
): Promise<EnvironmentValidation[]> {
  const cache = new BuildCache(runtime.settings)
  const wanted = await cache.select(options.environments)
  const nodes = await nodesToCompile(runtime.settings)
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'pupistry-validate-'))
  try {
    const puppet = new ScratchPuppet(path.join(scratch, 'puppet'))
    const results: EnvironmentValidation[] = []
    const problems: ValidationProblem[] = []
    for (const environment of wanted) {
      const record =
        options.version === undefined
          ? await cache.require(environment)
          : await cache.findVersion(environment, options.version)
      runtime.log.progress(`Validating ${environment}`)
      const checked = await validateEnvironment(cache, record, {nodes, puppet, scratch})
      problems.push(...checked.problems.map((problem) => ({environment, ...problem})))
      results.push(checked.result)
    }

    if (problems.length > 0) throw validationFailed(problems)
    return results
  } finally {
    await rm(scratch, {force: true, recursive: true})
  }
}

async function validateEnvironment(
  cache: BuildCache,
  record: BuildRecord,
  context: {puppet: ScratchPuppet; scratch: string; nodes: NodeFacts[]},
): Promise<{result: EnvironmentValidation; problems: PuppetProblem[]}> {
  const environments = path.join(context.scratch, 'environments')
  const root = path.join(environments, record.environment)
  await mkdir(root, {recursive: true})
  await unpackArtifact(cache.artifactPath(record.environment, record.version), root, {
    unpackedSize: record.artifact.unpacked_size,
  })
  const files = await codeFiles(root)
  const problems = [
    ...(await parse(context.puppet, ['parser', 'validate'], files.manifests, root)),
    ...(await parse(context.puppet, ['epp', 'validate'], files.templates, root)),
    ...(await yamlProblems(root, files.yaml)),
  ]
  const compiled: string[] = []
  // A catalog of code that does not parse tells nothing new.
  if (problems.length === 0) {
    for (const node of context.nodes) {
      const failed = await compileCatalog(context.puppet, node, {environments, root, scratch: context.scratch})
      if (failed.length === 0) compiled.push(node.certname)
      problems.push(...failed)
    }
  }

  await rm(root, {force: true, recursive: true})
  return {
    problems,
    result: {
      environment: record.environment,
      manifests: files.manifests.length,
      nodes: compiled,
      templates: files.templates.length,
      version: record.version,
      yaml: files.yaml.length,
    },
  }
}

async function parse(puppet: ScratchPuppet, command: string[], files: string[], root: string): Promise<PuppetProblem[]> {
  const problems: PuppetProblem[] = []
  for (let start = 0; start < files.length; start += BATCH) {
    const batch = files.slice(start, start + BATCH).map((file) => path.join(root, file))
    const {code, stderr} = await puppet.run([...command, ...batch])
    if (code === 0) continue
    const found = await puppetProblems(stderr, root)
    problems.push(
      ...(found.length > 0 ? found : [{file: files[start] ?? '.', message: `puppet ${command.join(' ')}: ${stderr}`}]),
    )
  }

  return problems
}

/**
 * Puppet's own compiler, offline: `puppet catalog find --terminus compiler`
 * with the node's facts from a YAML facts terminus, as a Puppet server would
 * compile it. Nothing is applied. `trusted.certname` stays empty offline;
 * `facts.clientcert` carries the certname, as an agent sends it.
 */
async function compileCatalog(
  puppet: ScratchPuppet,
  node: NodeFacts,
  where: {environments: string; root: string; scratch: string},
): Promise<PuppetProblem[]> {
  const factsDir = path.join(where.scratch, 'facts')
  await mkdir(path.join(factsDir, 'facts'), {recursive: true})
  const values = {clientcert: node.certname, ...node.facts}
  await writeFile(
    path.join(factsDir, 'facts', `${node.certname}.yaml`),
    `--- !ruby/object:Puppet::Node::Facts\n${dump({name: node.certname, values}, {lineWidth: -1, noRefs: true})}`,
  )
  const {code, stderr} = await puppet.run([
    'catalog',
    'find',
    node.certname,
    '--certname',
    node.certname,
    '--terminus',
    'compiler',
    '--facts_terminus',
    'yaml',
    '--clientyamldir',
    factsDir,
    '--environmentpath',
    where.environments,
    '--environment',
    path.basename(where.root),
    '--render-as',
    'json',
  ])
  if (code === 0) return []
  const found = await puppetProblems(stderr, where.root)
  const first = found[0] ?? {file: 'manifests', message: firstError(stderr)}
  return [{...first, message: `catalog of ${node.certname}: ${first.message}`}]
}

function firstError(stderr: string): string {
  const line = stderr.split('\n').find((text) => text.startsWith('Error: ')) ?? stderr.trim()
  return line.replace(/^Error: /, '')
}

/** build.validate_nodes with each facts file read (relative to the settings file). */
async function nodesToCompile(settings: Settings): Promise<NodeFacts[]> {
  const base = settings.file ? path.dirname(settings.file) : process.cwd()
  const nodes: NodeFacts[] = []
  for (const node of settings.build.validate_nodes ?? []) {
    if (typeof node.facts !== 'string') {
      nodes.push({certname: node.certname, facts: node.facts})
      continue
    }

    const file = path.resolve(base, node.facts)
    let facts: unknown
    try {
      facts = load(await readFile(file, 'utf8'), {filename: file})
    } catch (error) {
      throw new SettingsError(
        `build.validate_nodes: cannot read the facts of ${node.certname} from ${file}: ${(error as Error).message}`,
      )
    }

    if (!facts || typeof facts !== 'object' || Array.isArray(facts))
      throw new SettingsError(`build.validate_nodes: ${file} holds no mapping of facts for ${node.certname}`)
    // `puppet facts show` wraps them as {name, values}; `facter -y` prints them bare.
    const values = (facts as {values?: unknown}).values
    const plain = values && typeof values === 'object' ? values : facts
    nodes.push({certname: node.certname, facts: plain as Record<string, unknown>})
  }

  return nodes
}

function validationFailed(problems: ValidationProblem[]): ValidationError {
  const where = (problem: ValidationProblem) =>
    `${problem.environment}: ${problem.file}${problem.line === undefined ? '' : `:${problem.line}`}`
  const lines = problems.slice(0, LISTED).map((problem) => `  ${where(problem)}: ${problem.message}`)
  if (problems.length > LISTED) lines.push(`  ... and ${problems.length - LISTED} more (--json lists them all)`)
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`
  return new ValidationError(`the built code has ${count} that Puppet would refuse:\n${lines.join('\n')}`, {
    details: problems,
    hint: 'fix them in the control repo or the module and build again; push publishes nothing until they pass',
  })
}
