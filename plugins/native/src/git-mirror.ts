import {createHash} from 'node:crypto'
import {access, mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {failure, shown} from './failure.js'
import {type RunResult, said} from './run.js'
import type {Workers} from './workers.js'

/** What the mirror knows, kept beside it so an unchanged remote costs one `ls-remote`. */
interface MirrorState {
  /** The remote's heads and tags as `ls-remote --heads --tags` prints them, sorted. */
  advertised: string
  /** Ref name → commit (tags peeled). */
  refs: Record<string, string>
  /** Commits named by hash that were found in the mirror (objects are never removed from it). */
  verified: string[]
}

const FETCH_REFSPECS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*']
const REFS_FORMAT = '%(objectname)%09%(refname)%(if)%(*objectname)%(then)%0a%(*objectname)%09%(refname)^{}%(end)'

/**
 * A local bare mirror of one remote (heads and tags). `sync` brings it up to
 * date at most once per build; trees are checked out from it into a
 * directory with a throwaway index, so no working copy is ever kept.
 */
export class GitMirror {
  readonly dir: string
  private state?: MirrorState
  private syncing?: Promise<void>

  constructor(
    root: string,
    readonly remote: string,
    private readonly workers: Workers,
  ) {
    const hash = createHash('sha256').update(remote).digest('hex').slice(0, 16)
    const readable = remote
      .replace(/^[a-z][a-z0-9+.-]*:\/\/([^/@]*@)?/i, '')
      .replace(/[^\w.-]+/g, '-')
      .slice(-60)
    this.dir = path.join(root, `${readable}-${hash}.git`)
  }

  /** Fetches what moved on the remote; the first call of a build does the work, the others wait for it. */
  sync(): Promise<void> {
    this.syncing ??= this.update()
    return this.syncing
  }

  /**
   * Makes `refs` resolvable, asking the remote only when one of them may
   * move. r10k leaves its cache alone when the ref is a tag or a commit the
   * cache already has (tags and commits are taken as fixed), so a build
   * pinned to tags costs no git process for that remote.
   */
  async prepare(refs: Iterable<string>): Promise<void> {
    if (!this.syncing && (await this.load()) && [...refs].every((ref) => this.fixed(ref))) return
    return this.sync()
  }

  /** Branch name → commit, as of the last sync. */
  branches(): Array<[string, string]> {
    return Object.entries(this.state!.refs).flatMap(
      ([ref, commit]): Array<[string, string]> =>
        ref.startsWith('refs/heads/') ? [[ref.slice('refs/heads/'.length), commit]] : [],
    )
  }

  /**
   * The commit a ref names, resolved as `git rev-parse` does in r10k's cache:
   * the full ref name, then a tag, then a branch, then a commit hash.
   */
  async resolve(ref: string): Promise<string | undefined> {
    const refs = this.state!.refs
    for (const candidate of [ref, `refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`]) {
      const commit = refs[`${candidate}^{}`] ?? refs[candidate]
      if (commit && candidate.startsWith('refs/')) return commit
    }

    if (!/^[0-9a-f]{4,40}$/.test(ref)) return undefined
    if (ref.length === 40 && this.state!.verified.includes(ref)) return ref
    const result = await this.workers.run(
      ['git', '--git-dir', this.dir, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`],
      {stdout: true},
    )
    if (result.code !== 0) return undefined
    const commit = result.stdout.trim()
    if (ref.length === 40) {
      this.state!.verified.push(commit)
      await this.saveState()
    }

    return commit
  }

  /** Writes the tree of a commit into `dest` (which must exist and be empty), as a checkout would. */
  async export(commit: string, dest: string): Promise<void> {
    const result = await this.workers.run(['export_tree', this.dir, commit, dest])
    if (result.code !== 0)
      throw failure('assembler', `cannot export ${commit} of ${shown(this.remote)}: ${this.said(result)}`)
  }

  /** A tag the mirror has, or a full commit hash found in it before. */
  private fixed(ref: string): boolean {
    const state = this.state!
    return state.refs[`refs/tags/${ref}`] !== undefined || (/^[0-9a-f]{40}$/.test(ref) && state.verified.includes(ref))
  }

  /** Reads what the mirror knew after its last sync; false when there is no usable mirror. */
  private async load(): Promise<boolean> {
    this.state ??= await readFile(this.stateFile(), 'utf8').then(
      (text) => JSON.parse(text) as MirrorState,
      () => undefined,
    )
    if (!this.state) return false
    return access(path.join(this.dir, 'HEAD')).then(
      () => true,
      () => false,
    )
  }

  private stateFile(): string {
    return path.join(this.dir, 'pupistry-refs.json')
  }

  private async update(): Promise<void> {
    const exists = await access(path.join(this.dir, 'HEAD')).then(
      () => true,
      () => false,
    )
    if (exists) {
      this.state ??= await readFile(this.stateFile(), 'utf8').then(
        (text) => JSON.parse(text) as MirrorState,
        () => undefined,
      )
      const listed = await this.workers.run(['git', 'ls-remote', '--heads', '--tags', this.remote], {stdout: true})
      if (listed.code !== 0) throw failure('assembler', `cannot reach ${shown(this.remote)}: ${this.said(listed)}`)
      if (this.state && normalise(listed.stdout) === this.state.advertised) return
      const fetched = await this.workers.run([
        'git',
        '--git-dir',
        this.dir,
        'fetch',
        '--quiet',
        '--prune',
        '--no-tags',
        this.remote,
        ...FETCH_REFSPECS,
      ])
      if (fetched.code !== 0) throw failure('assembler', `cannot fetch ${shown(this.remote)}: ${this.said(fetched)}`)
    } else {
      // Whatever a removed mirror had verified says nothing about a new clone.
      this.state = undefined
      await mkdir(path.dirname(this.dir), {recursive: true})
      await rm(this.dir, {force: true, recursive: true})
      // No hook templates: nothing runs in the mirror, and copying them costs a cold build time.
      const cloned = await this.workers.run(['git', 'clone', '--quiet', '--bare', '--template=', this.remote, this.dir])
      if (cloned.code !== 0) {
        await rm(this.dir, {force: true, recursive: true})
        throw failure('assembler', `cannot clone ${shown(this.remote)}: ${this.said(cloned)}`)
      }
    }

    const advertised = normalise(exists ? await this.listRefs() : await this.packedRefs())
    const refs: Record<string, string> = {}
    for (const line of advertised.split('\n')) {
      const [commit, name] = line.split('\t')
      if (commit && name) refs[name] = commit
    }

    this.state = {advertised, refs, verified: this.state?.verified ?? []}
    await this.saveState()
  }

  private async listRefs(): Promise<string> {
    const listed = await this.workers.run(
      ['git', '--git-dir', this.dir, 'for-each-ref', `--format=${REFS_FORMAT}`, 'refs/heads', 'refs/tags'],
      {stdout: true},
    )
    if (listed.code !== 0)
      throw failure('assembler', `cannot read the mirror of ${shown(this.remote)}: ${this.said(listed)}`)
    return listed.stdout
  }

  /**
   * A fresh clone keeps all its refs in packed-refs, with annotated tags
   * peeled (`^commit` lines): reading that file saves a git process per
   * module on a cold build. Anything unexpected falls back to git.
   */
  private async packedRefs(): Promise<string> {
    const text = await readFile(path.join(this.dir, 'packed-refs'), 'utf8').catch(() => undefined)
    if (text === undefined || !/^# pack-refs with:.*\bfully-peeled\b/.test(text)) return this.listRefs()
    const lines: string[] = []
    let last = ''
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || line === '') continue
      const peeled = /^\^([0-9a-f]{40,64})$/.exec(line)
      const ref = /^([0-9a-f]{40,64}) (refs\/(?:heads|tags)\/.+)$/.exec(line)
      if (peeled && last) lines.push(`${peeled[1]}\t${last}^{}`)
      else if (ref) {
        lines.push(`${ref[1]}\t${ref[2]}`)
        last = ref[2]
      } else last = ''
    }

    return lines.join('\n')
  }

  /** What git said, with the remote's credentials hidden (git repeats the URL as it was given). */
  private said(result: RunResult): string {
    return said(result).split(this.remote).join(shown(this.remote))
  }

  private async saveState(): Promise<void> {
    await writeFile(this.stateFile(), JSON.stringify(this.state))
  }
}

function normalise(listing: string): string {
  return listing.split('\n').filter(Boolean).sort().join('\n')
}
