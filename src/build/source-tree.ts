import {execFile} from 'node:child_process'
import {realpath, stat} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'

import {ToolError, UsageError} from '../errors.js'

const exec = promisify(execFile)

/** A working tree as one commit of a repository of its own, which any assembler can deploy like a remote. */
export interface SourceSnapshot {
  /** file:// URL of the repository, whose only branch is the environment's name. */
  url: string
  /** The checkout's HEAD commit, `-dirty` when the tree built differs from it; undefined outside git. */
  commit?: string
}

/**
 * Snapshots a directory (a CI checkout, a merge commit, a fork's pull
 * request, an uncommitted working tree) into a new repository under `into`,
 * as branch `branch`. The tree is what `git add -A` sees: ignored files and
 * `.git` stay out, as they would from a pushed branch. The checkout's own
 * repository is only read.
 */
export async function snapshotWorkingTree(dir: string, branch: string, into: string): Promise<SourceSnapshot> {
  const source = path.resolve(dir)
  if (!(await stat(source).catch(() => undefined))?.isDirectory())
    throw new UsageError(`--source ${dir} is not a directory`)
  const gitDir = path.join(into, 'source.git')
  // The checkout may belong to another user (a CI runner's container): reading it is what was asked.
  const git = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    exec('git', ['-c', 'safe.directory=*', ...args], {
      env: {...process.env, GIT_CONFIG_NOSYSTEM: '1', ...env},
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: NodeJS.ErrnoException & {stderr?: string}) => {
      if (error.code === 'ENOENT') throw new ToolError('git is not installed or not on PATH: --source needs it')
      throw new UsageError(`cannot snapshot ${source} with git: ${(error.stderr ?? error.message).trim()}`)
    })
  await git(['init', '-q', '--bare', gitDir])
  const index = {GIT_DIR: gitDir, GIT_INDEX_FILE: path.join(into, 'index'), GIT_WORK_TREE: source}
  await git(['add', '-A', '.'], index)
  const tree = (await git(['write-tree'], index)).stdout.trim()
  const identity = {
    GIT_AUTHOR_EMAIL: 'pupistry@localhost',
    GIT_AUTHOR_NAME: 'pupistry',
    GIT_COMMITTER_EMAIL: 'pupistry@localhost',
    GIT_COMMITTER_NAME: 'pupistry',
  }
  const commit = (
    await git(['commit-tree', tree, '-m', `snapshot of ${source}`], {GIT_DIR: gitDir, ...identity})
  ).stdout.trim()
  await git(['update-ref', `refs/heads/${branch}`, commit], {GIT_DIR: gitDir})
  await git(['symbolic-ref', 'HEAD', `refs/heads/${branch}`], {GIT_DIR: gitDir})
  return {commit: await checkoutCommit(source, tree), url: `file://${gitDir}`}
}

/** HEAD of the checkout the directory is the top of, marked dirty when its tree is not the one snapshotted. */
async function checkoutCommit(source: string, tree: string): Promise<string | undefined> {
  const read = async (args: string[]) =>
    (await exec('git', ['-c', 'safe.directory=*', '-C', source, ...args])).stdout.trim()
  try {
    // A directory inside another repository is not that repository's checkout.
    if ((await realpath(await read(['rev-parse', '--show-toplevel']))) !== (await realpath(source))) return undefined
    const head = await read(['rev-parse', 'HEAD'])
    const headTree = await read(['rev-parse', 'HEAD^{tree}'])
    return headTree === tree ? head : `${head}-dirty`
  } catch {
    return undefined
  }
}
