// A throwaway build side and node on one machine for the agent benchmarks: a file store, a signing key,
// and settings whose Puppet is /bin/true, so runs measure pupistry and nothing else.
import {execFileSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

/** Writes the settings under `tmp`, makes the key, and returns the paths and a synchronous CLI runner. */
export function makeNodeWorld(tmp, {bin, userId, agent = []}) {
  const world = {
    appCache: path.join(tmp, 'cache'),
    keys: path.join(tmp, 'keys'),
    puppetcode: path.join(tmp, 'code', 'environments'),
    settingsFile: path.join(tmp, 'settings.yaml'),
    store: path.join(tmp, 'store'),
  }
  writeFileSync(
    world.settingsFile,
    [
      'general:',
      `  app_cache: ${world.appCache}`,
      `  storage: file://${world.store}`,
      `  signing_key_file: ${world.keys}/pupistry-signing.secret.asc`,
      `  trusted_keys: ${world.keys}/pupistry-signing.public.asc`,
      'agent:',
      `  puppetcode: ${world.puppetcode}`,
      '  puppet: /bin/true',
      ...agent.map((line) => `  ${line}`),
      '',
    ].join('\n'),
  )
  mkdirSync(world.store)
  world.pupistry = (...args) =>
    execFileSync(process.execPath, [bin, ...args, '--config', world.settingsFile], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  world.pupistry('keys', 'generate', '--dir', world.keys, '--user-id', userId)
  return world
}
