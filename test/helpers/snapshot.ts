import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {createTwoFilesPatch} from 'diff'

import {ROOT} from './cli.js'

export const SNAPSHOTS = path.join(ROOT, 'test', 'snapshots')

/**
 * Compares text with the committed file test/snapshots/NAME, so any change
 * to rendered output shows in review. UPDATE_SNAPSHOTS=1 rewrites the file
 * (commit the result); otherwise a difference fails with a unified diff.
 */
export function matchSnapshot(name: string, actual: string): void {
  const file = path.join(SNAPSHOTS, name)
  if (process.env.UPDATE_SNAPSHOTS === '1') {
    mkdirSync(path.dirname(file), {recursive: true})
    writeFileSync(file, actual)
    return
  }

  assert.ok(
    existsSync(file),
    `no snapshot ${path.relative(ROOT, file)}: run the tests with UPDATE_SNAPSHOTS=1 and commit it`,
  )
  const expected = readFileSync(file, 'utf8')
  if (expected === actual) return
  const patch = createTwoFilesPatch(`snapshot ${name}`, 'rendered now', expected, actual, undefined, undefined, {
    context: 2,
  })
  assert.fail(`rendered output differs from test/snapshots/${name} (UPDATE_SNAPSHOTS=1 accepts the change):\n${patch}`)
}
