import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {ROOT} from './helpers/cli.js'

const SRC = path.join(ROOT, 'src')

/** The layers of docs/architecture.md's table: folder (or top-level file) → layer number, 1 on top. */
function documentedLayers(): Map<string, number> {
  const layers = new Map<string, number>()
  for (const line of readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8').split('\n')) {
    const row = /^\| (\d+) \| ([^|]+) \|/.exec(line)
    if (row) for (const folder of row[2].split(',')) layers.set(folder.trim(), Number(row[1]))
  }

  return layers
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(full)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : []
  })
}

/** The folder of src/ a file belongs to; a file directly in src/ is its own (`runtime`, `errors`). */
function folderOf(file: string): string {
  const [first, ...rest] = path.relative(SRC, file).split(path.sep)
  return rest.length > 0 ? first : first.replace(/\.(ts|js)$/, '')
}

interface Arrow {
  from: string
  to: string
  file: string
  specifier: string
}

/** Every import between two folders of src/: static, type-only, re-exports and dynamic import(). */
function folderArrows(): Arrow[] {
  const arrows: Arrow[] = []
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      const target = path.resolve(path.dirname(file), match[1])
      if (!target.startsWith(SRC + path.sep)) continue
      const from = folderOf(file)
      const to = folderOf(target)
      if (from !== to) arrows.push({file: path.relative(ROOT, file), from, specifier: match[1], to})
    }
  }

  return arrows
}

/** Arrows against the documented direction, and folders missing from the table. */
function wrongArrows(arrows: Arrow[], layers: Map<string, number>): string[] {
  const problems: string[] = []
  for (const arrow of arrows) {
    const from = layers.get(arrow.from)
    const to = layers.get(arrow.to)
    if (from === undefined || to === undefined) {
      problems.push(
        `${arrow.file}: folder ${from === undefined ? arrow.from : arrow.to} is not in the table of docs/architecture.md`,
      )
    } else if (to < from) {
      problems.push(
        `${arrow.file} imports ${arrow.specifier}: ${arrow.from} (layer ${from}) may not import ${arrow.to} (layer ${to})`,
      )
    }
  }

  return problems
}

/** A loop of folders importing each other, as "a → b → a", or undefined. */
function folderCycle(arrows: Arrow[]): string | undefined {
  const next = new Map<string, Set<string>>()
  for (const arrow of arrows) next.set(arrow.from, (next.get(arrow.from) ?? new Set()).add(arrow.to))
  const done = new Set<string>()
  const visit = (folder: string, trail: string[]): string | undefined => {
    if (trail.includes(folder)) return [...trail.slice(trail.indexOf(folder)), folder].join(' → ')
    if (done.has(folder)) return undefined
    for (const to of [...(next.get(folder) ?? [])].sort()) {
      const cycle = visit(to, [...trail, folder])
      if (cycle) return cycle
    }

    done.add(folder)
    return undefined
  }

  for (const folder of [...next.keys()].sort()) {
    const cycle = visit(folder, [])
    if (cycle) return cycle
  }

  return undefined
}

describe('architecture: imports follow docs/architecture.md', () => {
  const arrows = folderArrows()
  const layers = documentedLayers()

  it('finds the imports it checks (the reader works)', () => {
    assert.ok(layers.size >= 20, `docs/architecture.md lists ${layers.size} folders`)
    assert.ok(
      arrows.some((arrow) => arrow.from === 'agent' && arrow.to === 'format'),
      'agent imports format',
    )
    assert.ok(
      arrows.some(
        (arrow) => arrow.from === 'agent' && arrow.to === 'artifact' && arrow.file.endsWith('later-steps.ts'),
      ),
      'the agent loads the artifact download when a run gets there (a dynamic import)',
    )
  })

  it('every folder of src/ is in the table, and no import goes up a layer', () => {
    assert.deepEqual(wrongArrows(arrows, layers), [])
  })

  it('no folders import each other, directly or round a loop', () => {
    assert.equal(folderCycle(arrows), undefined)
  })

  it('the checks catch an arrow up a layer and a loop', () => {
    const arrow = (from: string, to: string) => ({file: `src/${from}/x.ts`, from, specifier: `../${to}/y.js`, to})
    assert.deepEqual(wrongArrows([arrow('artifact', 'agent')], layers), [
      'src/artifact/x.ts imports ../agent/y.js: artifact (layer 4) may not import agent (layer 3)',
    ])
    assert.equal(
      folderCycle([arrow('agent', 'publish'), arrow('publish', 'build'), arrow('build', 'agent')]),
      'agent → publish → build → agent',
    )
  })
})
