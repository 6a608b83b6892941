import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {createTwoFilesPatch} from 'diff'

import {downloadArtifact} from '../artifact/download.js'
import {type ArchiveEntry, indexArchive, readArchiveFiles} from '../artifact/read-archive.js'
import {BuildCache} from '../build/build-cache.js'
import type {Runtime} from '../runtime.js'
import {publishedTrust} from '../signing/signing.js'
import {openStore} from '../store/open-store.js'
import {readPublished} from '../format/pointer.js'
import {diffSealed, type SealedDiff} from '../sealed/diff.js'

/** Text diffs are shown for files up to this size; larger or binary ones are only named. */
const MAX_TEXT_DIFF = 512 * 1024

export interface ModuleChange {
  name: string
  change: 'added' | 'removed' | 'changed'
  from?: string
  to?: string
}

export interface FileChange {
  path: string
  change: 'added' | 'removed' | 'changed'
  /** Unified diff for text files, when not --stat. */
  patch?: string
  binary?: boolean
  /** Its content may not be shown (contentMayBeShown): no patch, no line counts. */
  hidden?: boolean
  added: number
  removed: number
}

export interface EnvironmentDiff {
  environment: string
  built: string
  published?: {version: string; serial: number}
  modules: ModuleChange[]
  files: FileChange[]
  /** With build.hieracrypt: which reader gained or lost which protected file, and which changed. */
  sealed?: SealedDiff
}

/** Built versus published, per environment: modules and files that changed. */
export async function diff(
  runtime: Runtime,
  options: {environments?: string[]; stat?: boolean},
): Promise<EnvironmentDiff[]> {
  const cache = new BuildCache(runtime.settings)
  const wanted = await cache.select(options.environments)

  const store = await openStore(runtime, 'build')
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'pupistry-diff-'))
  try {
    const results: EnvironmentDiff[] = []
    for (const environment of wanted) {
      const record = await cache.require(environment)
      let live = await readPublished(store, environment)
      // Never parse an archive the store offers unless a key we trust signed for it.
      if (
        live &&
        !runtime.settings.general.gpg_disable &&
        (await publishedTrust(runtime, live.envelope)) !== 'trusted'
      ) {
        runtime.log.warn(
          `${environment}: the published manifest is not signed by your signing key or a trusted key; diffing against nothing`,
        )
        live = undefined
      }

      const localFile = cache.artifactPath(environment, record.version)
      const result: EnvironmentDiff = {
        built: record.version,
        environment,
        files: [],
        modules: diffModules(live?.manifest.build.modules ?? {}, record.build.modules),
      }
      if (live) result.published = {serial: live.manifest.serial, version: live.manifest.version}
      const sealed = await diffSealed(cache.dirOf(environment), record.sealed?.index, live?.manifest.sealed?.index)
      if (sealed) result.sealed = sealed
      if (live?.manifest.version !== record.version) {
        let publishedFile: string | undefined
        if (live) {
          publishedFile = path.join(scratch, `${environment}.tar.gz`)
          await downloadArtifact(store, live.manifest, publishedFile)
        }

        result.files = await diffArchives(publishedFile, localFile, Boolean(options.stat))
      }

      results.push(result)
    }

    return results
  } finally {
    await rm(scratch, {force: true, recursive: true})
  }
}

/**
 * Whether a file's content may appear in a diff (a terminal, a pull-request
 * comment, a job summary). The one place that decides it: hiera data under
 * sealed hiera will answer false here, so that its content never shows.
 */
export function contentMayBeShown(_path: string): boolean {
  return true
}

/** True when any environment's build differs from what is live (or nothing is live): `diff --exit-code` exits 1. */
export function hasChanges(results: EnvironmentDiff[]): boolean {
  return results.some((result) => result.published?.version !== result.built)
}

function diffModules(before: Record<string, string>, after: Record<string, string>): ModuleChange[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
  const changes: ModuleChange[] = []
  for (const name of names) {
    if (!(name in before)) changes.push({change: 'added', name, to: after[name]})
    else if (!(name in after)) changes.push({change: 'removed', from: before[name], name})
    else if (before[name] !== after[name]) changes.push({change: 'changed', from: before[name], name, to: after[name]})
  }

  return changes
}

function sameEntry(a: ArchiveEntry, b: ArchiveEntry): boolean {
  return a.type === b.type && a.sha256 === b.sha256 && a.mode === b.mode && a.linkpath === b.linkpath
}

async function diffArchives(
  beforeFile: string | undefined,
  afterFile: string,
  statOnly: boolean,
): Promise<FileChange[]> {
  const before = beforeFile ? await indexArchive(beforeFile) : new Map<string, ArchiveEntry>()
  const after = await indexArchive(afterFile)
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort()
  const changed = paths.filter((name) => {
    const a = before.get(name)
    const b = after.get(name)
    return (a?.type ?? b?.type) !== 'Directory' && (!a || !b || !sameEntry(a, b))
  })
  const textual = new Set(
    changed.filter(
      (name) =>
        contentMayBeShown(name) &&
        [before.get(name), after.get(name)].every(
          (entry) => !entry || (entry.type === 'File' && entry.size <= MAX_TEXT_DIFF),
        ),
    ),
  )
  const oldText = beforeFile ? await readArchiveFiles(beforeFile, textual) : new Map<string, Buffer>()
  const newText = await readArchiveFiles(afterFile, textual)
  return changed.map((name) => {
    const change = !before.has(name) ? 'added' : !after.has(name) ? 'removed' : 'changed'
    if (!contentMayBeShown(name)) return {added: 0, change, hidden: true, path: name, removed: 0}
    const oldContent = oldText.get(name) ?? Buffer.alloc(0)
    const newContent = newText.get(name) ?? Buffer.alloc(0)
    if (!textual.has(name) || oldContent.includes(0) || newContent.includes(0))
      return {added: 0, binary: true, change, path: name, removed: 0}
    const patch = createTwoFilesPatch(
      `a/${name}`,
      `b/${name}`,
      oldContent.toString('utf8'),
      newContent.toString('utf8'),
      undefined,
      undefined,
      {context: 3},
    )
    const lines = patch.split('\n').slice(3)
    return {
      added: lines.filter((line) => line.startsWith('+') && !line.startsWith('+++')).length,
      change,
      patch: statOnly ? undefined : patch,
      path: name,
      removed: lines.filter((line) => line.startsWith('-') && !line.startsWith('---')).length,
    }
  })
}
