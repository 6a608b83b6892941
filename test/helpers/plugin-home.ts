import {mkdirSync} from 'node:fs'
import path from 'node:path'

import {ROOT, show} from './cli.js'
import type {World} from './world.js'

/**
 * Environment for a CLI whose plugins live below `dir`: oclif keeps the
 * installed and linked plugins in its data directory (XDG_DATA_HOME), and npm
 * its cache and user config below HOME, so a test never sees or changes the
 * plugins of the user running it.
 */
export function pluginHome(dir: string): NodeJS.ProcessEnv {
  const home = path.join(dir, 'home')
  mkdirSync(home, {recursive: true})
  return {
    HOME: home,
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    // `npm test` exports npm's settings of the user running it; point them into this home,
    // and leave the registry to each test (undefined removes a variable from a child's environment).
    PUPISTRY_NPM_REGISTRY: undefined,
    npm_config_cache: path.join(home, '.npm'),
    npm_config_registry: undefined,
    npm_config_userconfig: path.join(home, '.npmrc'),
  }
}

/** Links one of the repository's own plugins (plugins/NAME) into a world with a plugin home of its own, offline. */
export async function linkOwnPlugin(world: World, name: string): Promise<void> {
  world.env = pluginHome(world.dir)
  const linked = await world.cliWithoutSettings('plugins', 'link', path.join(ROOT, 'plugins', name), '--no-install')
  if (linked.code !== 0) throw new Error(`plugins link ${name} failed: ${show(linked)}`)
}
