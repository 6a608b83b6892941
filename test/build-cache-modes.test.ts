import assert from 'node:assert/strict'
import {readdirSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {show} from './helpers/cli.js'
import {World} from './helpers/world.js'

/** Every file and directory under `dir`, the directory itself included. */
function walk(dir: string): string[] {
  return [
    dir,
    ...readdirSync(dir, {withFileTypes: true}).flatMap((entry) =>
      entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
    ),
  ]
}

describe("the build cache keeps the store's modes: artifacts carry hiera data", () => {
  let world: World
  before(async () => {
    world = await World.create()
  })
  after(() => world.cleanup())

  // The CLI inherits this process's umask; 000 and 022 would let others read, 077 would shut out the group.
  for (const umask of [0o022, 0o000, 0o077]) {
    it(`files are 0640 and directories 0750 under umask ${umask.toString(8).padStart(3, '0')}`, async () => {
      const cache = path.join(world.settings.general.app_cache as string, 'build')
      rmSync(cache, {force: true, recursive: true})
      const previous = process.umask(umask)
      let result
      try {
        result = await world.cli('build')
      } finally {
        process.umask(previous)
      }

      assert.equal(result.code, 0, show(result))
      const entries = walk(cache)
      assert.ok(
        entries.some((entry) => entry.endsWith('.tar.gz')),
        entries.join('\n'),
      )
      for (const entry of entries) {
        const info = statSync(entry)
        assert.equal((info.mode & 0o777).toString(8), info.isDirectory() ? '750' : '640', entry)
      }
    })
  }
})
