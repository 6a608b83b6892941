import {access, mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {AssembledEnvironment, AssembleOptions, Assembler, ProviderContext} from 'pupistry'

import {failure, shown} from './failure.js'
import {Forge} from './forge.js'
import {GitMirror} from './git-mirror.js'
import {limiter, mapBounded, settleAll} from './pool.js'
import {type ModuleSpec, parsePuppetfile, type Puppetfile} from './puppetfile.js'
import {run} from './run.js'
import {type NativeSettings, nativeSettings} from './settings.js'
import {Workers} from './workers.js'

/**
 * r10k's default naming (`invalid_branches: correct_and_warn`): every byte
 * that is not an ASCII word character becomes an underscore. r10k 3.15
 * reads branch names as bytes, so `café` becomes `caf__` (é is two bytes).
 */
export function environmentName(branch: string): string {
  let name = ''
  for (const byte of Buffer.from(branch, 'utf8'))
    name += /\w/.test(String.fromCharCode(byte)) && byte < 0x80 ? String.fromCharCode(byte) : '_'
  return name
}

/** What was deployed into an environment directory, kept outside the tree (the artifact must not carry it). */
interface EnvironmentState {
  commit: string
  /** The control repo's Puppetfile at that commit; null when it has none. */
  puppetfile: string | null
  /** Module directory (relative to the environment) → what is in it. */
  modules: Record<string, string>
}

/** An environment to assemble: its branch, commit and Puppetfile, and what was deployed there before. */
interface Plan {
  branch: string
  commit: string
  name: string
  previous?: EnvironmentState
  puppetfile: Puppetfile
  /** The Puppetfile's text; null when the branch has none. */
  text: string | null
}

/** A module of one environment, resolved to exactly what goes on disk. */
interface Placement {
  name: string
  /** Relative to the environment root, '/'-separated. */
  path: string
  /** Names the content: the same key means the same tree. Undefined for `:local` (the control repo's own files). */
  key?: string
  report: string
  install?: (dest: string) => Promise<void>
}

/**
 * Assembles every branch of the control repo as r10k deploys it: the branch's
 * tree, then its Puppetfile's modules. Git comes from one bare mirror per remote and
 * a checkout with a throwaway index; Forge modules from the Forge API. An environment whose
 * commit and modules did not move is left as it is.
 */
export class NativeAssembler implements Assembler {
  private readonly environmentsDir: string
  private readonly stateDir: string
  private readonly mirrors = new Map<string, GitMirror>()
  private workers?: Workers
  private forge?: Forge
  private settings?: NativeSettings

  constructor(private readonly context: ProviderContext) {
    this.environmentsDir = path.join(context.cacheDir, 'environments')
    this.stateDir = path.join(context.cacheDir, 'state')
  }

  async assemble(options: AssembleOptions): Promise<AssembledEnvironment[]> {
    const settings = nativeSettings(this.context.settings)
    this.settings = settings
    this.workers = new Workers(settings.remotePoolSize, path.join(this.context.cacheDir, 'tmp'))
    // Mirrors remember what they fetched in this build only.
    this.mirrors.clear()
    try {
      return await this.assembleWith(settings, options)
    } finally {
      this.forge?.close()
      await this.workers.close()
    }
  }

  /**
   * A progress line that also says how long the phase took and how many git
   * jobs the build has run so far: where a slow build spends its time shows
   * in `build --verbose` without a profiler.
   */
  private phase(message: string, started: number): void {
    const seconds = ((performance.now() - started) / 1000).toFixed(2)
    this.context.log.progress(`native: ${message} (${seconds} s, ${this.workers!.jobs} git jobs so far)`)
  }

  private async assembleWith(settings: NativeSettings, options: AssembleOptions): Promise<AssembledEnvironment[]> {
    this.forge = new Forge(settings.forge, path.join(this.context.cacheDir, 'forge'), (message) =>
      this.context.log.warn(message),
    )
    await mkdir(this.environmentsDir, {recursive: true})
    await mkdir(this.stateDir, {recursive: true})

    const control = this.mirror(settings.remote)
    this.context.log.progress(`native: fetching the control repo ${shown(settings.remote)}`)
    let started = performance.now()
    await control.sync()
    this.phase('fetched the control repo', started)
    const chosen = choose(control, options.environments, settings.remote)
    for (const [branch] of chosen) {
      if (environmentName(branch) !== branch)
        this.context.log.warn(
          `branch "${branch}" is deployed as environment "${environmentName(branch)}" (r10k's naming)`,
        )
    }

    started = performance.now()
    const plans = await mapBounded(chosen, settings.poolSize, async ([branch, commit]): Promise<Plan> => {
      const name = environmentName(branch)
      const previous = await this.readState(name)
      const text = previous?.commit === commit ? previous.puppetfile : await this.puppetfileAt(control, commit)
      const puppetfile =
        text === null
          ? {moduledir: 'modules', modules: []}
          : parsePuppetfile(text, `the Puppetfile of branch ${branch}`)
      return {branch, commit, name, previous, puppetfile, text}
    })

    this.phase(`read ${plans.length} Puppetfile${plans.length === 1 ? '' : 's'}`, started)
    // Each remote is brought up to date at most once, however many environments use it.
    const refsOf = new Map<string, string[]>()
    for (const plan of plans) {
      for (const module of plan.puppetfile.modules) {
        if (module.kind !== 'git') continue
        const refs = refsOf.get(module.remote) ?? []
        refs.push(typeof module.ref === 'string' ? module.ref : plan.branch)
        refsOf.set(module.remote, refs)
      }
    }

    this.context.log.progress(`native: checking ${refsOf.size} module remote${refsOf.size === 1 ? '' : 's'}`)
    // Modules are placed as soon as their own remote is ready rather than after
    // every remote: on a cold build the checkouts and Forge downloads run while
    // the slowest clones are still going, so both cores stay busy.
    started = performance.now()
    const remoteSlot = limiter(settings.remotePoolSize)
    // Placing has its own gate: behind the queued clones, a module whose remote is ready would wait for all of them.
    const placeSlot = limiter(settings.remotePoolSize)
    const ready = new Map<string, Promise<void>>()
    for (const [remote, refs] of refsOf) {
      const prepared = remoteSlot(() => this.mirror(remote).prepare(refs))
      // Awaited where a module needs it; this only keeps a failure before then from being "unhandled".
      prepared.catch(() => {})
      ready.set(remote, prepared)
    }

    const allReady = Promise.allSettled(ready.values()).then(() => this.phase('module remotes ready', started))
    try {
      const environments: AssembledEnvironment[] = []
      for (const plan of plans) {
        environments.push(await this.environment(plan, control, ready, placeSlot))
      }

      await allReady
      if (!options.environments) await this.removeGone(new Set(environments.map((environment) => environment.name)))
      return environments
    } finally {
      // Nothing may still be fetching when the build fails and the workers stop.
      await allReady
    }
  }

  /** Deploys one environment unless nothing in it moved. */
  private async environment(
    plan: Plan,
    control: GitMirror,
    ready: Map<string, Promise<void>>,
    placeSlot: <R>(task: () => Promise<R>) => Promise<R>,
  ): Promise<AssembledEnvironment> {
    const started = performance.now()
    const pending = plan.puppetfile.modules.map(async (module) => {
      if (module.kind === 'git') await ready.get(module.remote)
      return placeSlot(() => this.place(module, plan.puppetfile, plan.branch))
    })
    // Each is awaited below; a module failing while the control tree is exported is not "unhandled".
    for (const placement of pending) placement.catch(() => {})
    const dir = path.join(this.environmentsDir, plan.name)
    const recordOf = (placements: Placement[]): EnvironmentState => {
      const state: EnvironmentState = {commit: plan.commit, modules: {}, puppetfile: plan.text}
      for (const placement of placements) if (placement.key) state.modules[placement.path] = placement.key
      return state
    }

    // Only an environment whose control commit did not move can be unchanged;
    // any other is deployed while its modules are still being resolved.
    let placements: Placement[] | undefined
    let unchanged = false
    if (plan.previous?.commit === plan.commit && (await exists(dir))) {
      placements = await settleAll(pending)
      unchanged = sameState(plan.previous, recordOf(placements))
    }

    if (!unchanged) {
      this.context.log.progress(`native: deploying environment ${plan.name}`)
      // The old record goes first: after a crash mid-deploy it would describe a tree that is no longer there.
      await rm(this.stateFile(plan.name), {force: true})
      placements = await this.deploy(dir, control, plan.commit, pending, plan.previous)
      await writeFile(this.stateFile(plan.name), JSON.stringify(recordOf(placements)))
    }

    this.phase(`environment ${plan.name} ${unchanged ? 'unchanged' : 'deployed'}`, started)
    return {
      commit: plan.commit,
      modules: Object.fromEntries(placements!.map((placement) => [placement.name, placement.report])),
      name: plan.name,
      path: dir,
    }
  }

  async versions(): Promise<Record<string, string>> {
    const git = await run('git', ['--version'])
    const own = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {version: string}
    return {git: git.stdout.trim().replace(/^git version\s+/, ''), native: own.version}
  }

  private mirror(remote: string): GitMirror {
    let mirror = this.mirrors.get(remote)
    if (!mirror) {
      mirror = new GitMirror(path.join(this.context.cacheDir, 'git'), remote, this.workers!)
      this.mirrors.set(remote, mirror)
    }

    return mirror
  }

  /** The Puppetfile at a commit of the control repo, or null when the branch has none (an environment without modules, as in r10k). */
  private async puppetfileAt(control: GitMirror, commit: string): Promise<string | null> {
    const result = await this.workers!.run(
      ['git', '--git-dir', control.dir, 'cat-file', 'blob', `${commit}:Puppetfile`],
      {stdout: true},
    )
    if (result.code === 0) return result.stdout
    if (/does not exist|not a valid object name|exists on disk, but not in/i.test(result.stderr)) return null
    throw failure(
      'assembler',
      `cannot read the Puppetfile at ${commit} of ${shown(control.remote)}: ${result.stderr.trim()}`,
    )
  }

  /** Where a module goes and what goes there, with refs and `:latest` resolved. */
  private async place(module: ModuleSpec, puppetfile: Puppetfile, branch: string): Promise<Placement> {
    const where = `the Puppetfile of branch ${branch}, line ${module.line}`
    const dir = module.installPath ?? puppetfile.moduledir
    const modulePath = dir ? `${dir}/${module.name}` : module.name
    if (module.kind === 'local') return {name: module.name, path: modulePath, report: 'local'}

    if (module.kind === 'forge') {
      const version = module.version === 'latest' ? await this.forge!.latest(module.slug) : module.version
      return {
        install: (dest) => this.forge!.install(module.slug, version, dest),
        key: `forge ${this.settings!.forge} ${module.slug}-${version}`,
        name: module.name,
        path: modulePath,
        report: version,
      }
    }

    const mirror = this.mirror(module.remote)
    const desired = typeof module.ref === 'string' ? module.ref : branch
    let ref = desired
    let commit = await mirror.resolve(desired)
    if (!commit && module.defaultBranch) {
      ref = module.defaultBranch
      commit = await mirror.resolve(module.defaultBranch)
    }

    if (!commit) {
      const also = module.defaultBranch ? `or resolve default ref '${module.defaultBranch}'` : 'and no default provided'
      throw failure(
        'assembler',
        `${where}: Unable to manage Puppetfile content '${module.name}': Could not resolve desired ref ` +
          `'${desired}' ${also} in ${shown(module.remote)}`,
      )
    }

    const found = commit
    return {
      install: async (dest) => {
        await mkdir(dest)
        await mirror.export(found, dest)
      },
      key: `git ${module.remote} ${found}`,
      name: module.name,
      path: modulePath,
      report: ref === found ? found : `${ref}@${found}`,
    }
  }

  /**
   * Builds the environment beside the old one and swaps it in: the control
   * repo's tree, then the modules. r10k's purge (its default `puppetfile`
   * level) spares the control repo's tracked files and removes only what
   * earlier deploys left behind, which a fresh tree never has. A module
   * whose content did not change is moved over from the old tree.
   */
  private async deploy(
    dir: string,
    control: GitMirror,
    commit: string,
    pending: Array<Promise<Placement>>,
    previous?: EnvironmentState,
  ): Promise<Placement[]> {
    const staging = `${dir}.new-${process.pid}`
    const retired = `${dir}.old-${process.pid}`
    const installSlot = limiter(this.settings!.poolSize)
    let placed: Array<Promise<void>> = []
    try {
      await rm(staging, {force: true, recursive: true})
      await mkdir(staging)
      // The control repo's tree goes first: a module replaces whatever the branch has at its path.
      await control.export(commit, staging)
      // Unchanged modules are moved over from the deployed tree: only once every
      // module is known, so that one that cannot be resolved leaves that tree whole.
      if (previous && (await exists(dir))) await settleAll(pending)
      placed = pending.map(async (resolving) => {
        const placement = await resolving
        if (!placement.install) return
        const target = path.join(staging, placement.path)
        await rm(target, {force: true, recursive: true})
        await mkdir(path.dirname(target), {recursive: true})
        const old = path.join(dir, placement.path)
        if (previous?.modules[placement.path] === placement.key && (await exists(old))) await rename(old, target)
        else await installSlot(() => placement.install!(target))
      })
      await settleAll(placed)
      const placements = await settleAll(pending)
      await rm(retired, {force: true, recursive: true})
      if (await exists(dir)) await rename(dir, retired)
      await rename(staging, dir)
      return placements
    } finally {
      // Whatever failed, every placement has stopped writing into the staging tree before it goes.
      await Promise.allSettled([...pending, ...placed])
      await rm(staging, {force: true, recursive: true})
      await rm(retired, {force: true, recursive: true})
    }
  }

  private stateFile(name: string): string {
    return path.join(this.stateDir, `${name}.json`)
  }

  private async readState(name: string): Promise<EnvironmentState | undefined> {
    try {
      return JSON.parse(await readFile(this.stateFile(name), 'utf8')) as EnvironmentState
    } catch {
      return undefined
    }
  }

  private async removeGone(kept: Set<string>): Promise<void> {
    for (const entry of await readdir(this.environmentsDir)) {
      if (kept.has(entry)) continue
      await rm(path.join(this.environmentsDir, entry), {force: true, recursive: true})
      await rm(this.stateFile(entry), {force: true})
    }
  }
}

/** The branches to assemble: all of them, or those whose environment (or branch) name was asked for. */
function choose(control: GitMirror, wanted: string[] | undefined, remote: string): Array<[string, string]> {
  const branches = control.branches().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const byName = new Map<string, string>()
  for (const [branch] of branches) {
    const name = environmentName(branch)
    const other = byName.get(name)
    if (
      other !== undefined &&
      (!wanted || wanted.includes(name) || wanted.includes(branch) || wanted.includes(other))
    ) {
      throw failure(
        'assembler',
        `the branches "${other}" and "${branch}" of ${shown(remote)} would both be environment "${name}"; rename one of them`,
      )
    }

    byName.set(name, branch)
  }

  if (!wanted) {
    if (branches.length === 0) throw failure('assembler', `the control repo ${shown(remote)} has no branches`)
    return branches
  }

  return wanted.map((name) => {
    const match =
      branches.find(([branch]) => branch === name) ?? branches.find(([branch]) => environmentName(branch) === name)
    if (!match) throw failure('assembler', `the control repo ${shown(remote)} has no branch for environment "${name}"`)
    return match
  })
}

function sameState(a: EnvironmentState, b: EnvironmentState): boolean {
  const keys = Object.keys(b.modules)
  return (
    a.commit === b.commit &&
    keys.length === Object.keys(a.modules).length &&
    keys.every((key) => a.modules[key] === b.modules[key])
  )
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  )
}
