import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, writeFileSync} from 'node:fs'
import {after, before, describe, it} from 'node:test'

import * as openpgp from 'openpgp'

import {BIN, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

const PASSPHRASE = 'correct horse battery staple'

/**
 * Runs pupistry on a pseudo-terminal (util-linux `script`), as a person at
 * a keyboard would: waits for the passphrase prompt, then types `keys`.
 */
function onTerminal(
  args: string[],
  keys: string,
): Promise<{code: number; stdout: string; stderr: string; prompted: boolean}> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, BIN, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ')
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: {...process.env, NO_COLOR: '1', PUPISTRY_SIGNING_PASSPHRASE: undefined},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let output = ''
    let prompted = false
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
      if (!prompted && /Passphrase for /.test(output)) {
        prompted = true
        child.stdin.write(keys)
      }
    })
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? -1, prompted, stderr: output, stdout: output}))
  })
}

describe('the passphrase prompt on a terminal', () => {
  let world: World
  before(async () => {
    world = await World.create()
    // A signing key protected by a passphrase, and nodes trusting it.
    const {privateKey, publicKey} = await openpgp.generateKey({
      passphrase: PASSPHRASE,
      type: 'ecc',
      userIDs: [{email: 'signer@example.invalid', name: 'Signer'}],
    })
    writeFileSync(world.settings.general.signing_key_file as string, privateKey)
    writeFileSync(world.settings.general.trusted_keys as string, publicKey)
    const built = await world.cli('build', '-e', 'production')
    assert.equal(built.code, 0, show(built))
  })
  after(() => world.cleanup())

  it('Ctrl-C at the prompt stops like any interruption (exit 24) and publishes nothing', async () => {
    const result = await onTerminal(['push', '--config', world.settingsFile], '\u0003')
    assert.ok(result.prompted, result.stdout)
    assert.equal(result.code, 24, show(result))
    assert.match(result.stdout, /pupistry: error: interrupted at the passphrase prompt/)
    assert.equal(existsSync(world.storePath('production', 'latest.json')), false)
  })

  it('the passphrase typed there is not echoed, and the push is signed with it', async () => {
    const result = await onTerminal(['push', '--config', world.settingsFile], `${PASSPHRASE}\r`)
    assert.ok(result.prompted, result.stdout)
    assert.equal(result.code, 0, show(result))
    assert.match(result.stdout, /production: published [0-9a-f]+ as serial 1, signed by/)
    assert.doesNotMatch(result.stdout, new RegExp(PASSPHRASE))
    assert.ok(existsSync(world.storePath('production', 'latest.json')))
  })
})
