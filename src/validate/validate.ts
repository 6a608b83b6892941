import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {parse as parseYaml, stringify} from '../vendor/yaml.js'

import {unpackArtifact} from '../artifact/unpack.js'
import {BuildCache} from '../build/build-cache.js'
import type {Settings} from '../config/settings.js'
import {SettingsError, ValidationError, type ValidationProblem} from '../errors.js'
import type {BuildRecord} from '../format/manifest.js'
import type {Runtime} from '../runtime.js'
import {type CodeFiles, codeFiles} from './code-files.js'
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

export type NodeFacts = {certname: string; facts: Record<string, unknown>}

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
  // A --version names one environment's earlier build; push refuses anything else with its own message.
  if (options.version !== undefined && wanted.length !== 1) return []
  const nodes = await nodesToCompile(runtime.settings)
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'pupistry-validate-'))
  try {
    const environments = path.join(scratch, 'environments')
    const records: BuildRecord[] = []
    for (const environment of wanted) {
      const record =
        options.version === undefined
          ? await cache.require(environment)
          : await cache.findVersion(environment, options.version)
      const root = path.join(environments, environment)
      await mkdir(root, {recursive: true})
      await unpackArtifact(cache.artifactPath(environment, record.version), root, {
        unpackedSize: record.artifact.unpacked_size,
      })
      records.push(record)
    }

    runtime.log.progress(`Validating ${wanted.join(', ')}`)
    const puppet = new ScratchPuppet(path.join(scratch, 'puppet'))
    const files = new Map<string, CodeFiles>()
    for (const environment of wanted) files.set(environment, await codeFiles(path.join(environments, environment)))
    // Paths relative to the environment path, so one puppet process checks every environment.
    const all = (kind: keyof CodeFiles) =>
      wanted.flatMap((environment) => (files.get(environment)?.[kind] ?? []).map((file) => `${environment}/${file}`))
    const [manifests, templates] = await Promise.all([
      parse(puppet, ['parser', 'validate'], all('manifests'), environments),
      parse(puppet, ['epp', 'validate'], all('templates'), environments),
    ])
    const problems: ValidationProblem[] = [
      ...manifests,
      ...templates,
      ...(await yamlProblems(environments, all('yaml'))),
    ].map(inEnvironment)
    const results: EnvironmentValidation[] = []
    for (const record of records) {
      const {environment} = record
      const found = files.get(environment) ?? {manifests: [], templates: [], yaml: []}
      const compiled: string[] = []
      // A catalog of code that does not parse tells nothing new.
      if (!problems.some((problem) => problem.environment === environment)) {
        for (const node of nodes) {
          const root = path.join(environments, environment)
          const failed = await compileCatalog(puppet, node, {environments, root, scratch})
          if (failed.length === 0) compiled.push(node.certname)
          problems.push(...failed.map((problem) => ({environment, ...problem})))
        }
      }

      results.push({
        environment,
        manifests: found.manifests.length,
        nodes: compiled,
        templates: found.templates.length,
        version: record.version,
        yaml: found.yaml.length,
      })
    }

    if (problems.length > 0) throw validationFailed(problems)
    return results
  } finally {
    await rm(scratch, {force: true, recursive: true})
  }
}

/** A problem found under the environment path, told as the environment and the file inside it. */
function inEnvironment(problem: PuppetProblem): ValidationProblem {
  const [environment = '', ...rest] = problem.file.split('/')
  return {...problem, environment, file: rest.join('/')}
}

async function parse(
  puppet: ScratchPuppet,
  command: string[],
  files: string[],
  root: string,
): Promise<PuppetProblem[]> {
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
    `--- !ruby/object:Puppet::Node::Facts\n${stringify({name: node.certname, values}, {aliasDuplicateObjects: false, lineWidth: 0})}`,
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
export async function nodesToCompile(settings: Settings): Promise<NodeFacts[]> {
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
      facts = parseYaml(await readFile(file, 'utf8'))
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
