import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import {SettingsError} from '../errors.js'
import {rolloutId} from './rollout-id.js'

describe('rollout id', () => {
  it('is agent.rollout_id when set, else the machine id file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pupistry-id-'))
    try {
      const file = path.join(dir, 'machine-id')
      writeFileSync(file, '0123456789abcdef\n')
      assert.equal(rolloutId('web-group', file), 'web-group')
      assert.equal(rolloutId(undefined, file), '0123456789abcdef')
      assert.throws(() => rolloutId(undefined, path.join(dir, 'missing')), SettingsError)
      writeFileSync(file, '\n')
      assert.throws(() => rolloutId(null, file), /is empty/)
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})
