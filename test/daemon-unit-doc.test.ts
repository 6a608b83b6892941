import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {NODE_PATHS} from '../src/templates/context.js'
import {ROOT} from './helpers/cli.js'

/** The first ```ini block under the heading "A systemd unit" of docs/daemon.md, as written. */
function documentedUnit(): string {
  const doc = readFileSync(path.join(ROOT, 'docs', 'daemon.md'), 'utf8')
  const section = doc.slice(doc.indexOf('## A systemd unit'))
  const block = /```ini\n([\s\S]*?)```/.exec(section)
  assert.ok(block, 'docs/daemon.md has an ini block under "A systemd unit"')
  return block[1]
}

describe('the systemd unit in docs/daemon.md', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'pupistry-unit-'))
  after(() => rmSync(root, {force: true, recursive: true}))

  it('runs the binary where bootstrap installs it, with the settings bootstrap writes', () => {
    const exec = /^ExecStart=(\S+) (.*)$/m.exec(documentedUnit())
    assert.ok(exec, 'the unit has an ExecStart')
    assert.equal(exec[1], NODE_PATHS.bin)
    assert.match(exec[2], new RegExp(`--config ${NODE_PATHS.settings.replaceAll('.', '\\.')}(\\s|$)`))
  })

  it('passes systemd-analyze verify with nothing on stderr', () => {
    // A root of systemd's own units plus the programs the unit runs, where the unit says they are.
    mkdirSync(path.join(root, 'usr', 'lib', 'systemd'), {recursive: true})
    cpSync('/usr/lib/systemd/system', path.join(root, 'usr', 'lib', 'systemd', 'system'), {recursive: true})
    const unit = documentedUnit()
    for (const line of unit.matchAll(/^Exec\w+=(\/\S+)/gm)) {
      const program = path.join(root, line[1])
      mkdirSync(path.dirname(program), {recursive: true})
      // pupistry where bootstrap installs it; other programs only where this machine has them too.
      if (line[1] === NODE_PATHS.bin) writeFileSync(program, '#!/bin/sh\n')
      else if (existsSync(line[1])) copyFileSync(line[1], program)
      else continue
      chmodSync(program, 0o755)
    }

    const file = path.join(root, 'etc', 'systemd', 'system', 'pupistry.service')
    mkdirSync(path.dirname(file), {recursive: true})
    writeFileSync(file, unit)
    const result = spawnSync('systemd-analyze', ['verify', `--root=${root}`, file], {encoding: 'utf8'})
    assert.equal(result.error, undefined, 'systemd-analyze runs (Debian: systemd)')
    assert.equal(result.stderr, '', 'systemd-analyze prints nothing')
    assert.equal(result.status, 0, result.stdout)
  })
})
