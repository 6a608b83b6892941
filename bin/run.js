#!/usr/bin/env node
import {readFileSync} from 'node:fs'
import {userInfo} from 'node:os'
import {fileURLToPath} from 'node:url'

const argv = process.argv.slice(2)

/**
 * A user the password database does not list (a container run as `-u 1234`,
 * a service with no login) makes Node's and oclif's lookups of the home
 * directory and shell throw before any command runs. Such a user gets what a
 * container runtime gives it: HOME=/ when unset, and /bin/sh as its shell.
 */
function settleUnlistedUser() {
  // The usual case asks no password database (which may be a directory service, on every check).
  if (process.env.HOME !== undefined && process.env.SHELL !== undefined) return
  try {
    userInfo()
  } catch {
    process.env.HOME ??= '/'
    process.env.SHELL ??= '/bin/sh'
  }
}
settleUnlistedUser()

/**
 * What nodes run most is answered before oclif loads, which costs more than
 * the work itself: `--version`, in oclif's own words, and a plain single
 * `apply` (src/cli/lean.ts, which hands anything else back to oclif), loaded
 * as one bundle (scripts/bundle.mjs).
 */
async function servedWithoutOclif() {
  if (argv.length === 1 && argv[0] === '--version') {
    const {name, version} = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
    process.stdout.write(`${name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`)
    return true
  }
  if (argv[0] !== 'apply') return false
  // Before the modules it speeds up are loaded.
  const {enableCompileCache} = await import('../dist/agent-bundle/compile-cache.js')
  enableCompileCache()
  const {leanApply} = await import('../dist/agent-bundle/agent-entry.js')
  return leanApply(argv.slice(1), fileURLToPath(new URL('..', import.meta.url)))
}

if (!(await servedWithoutOclif())) {
  const {execute, settings} = await import('@oclif/core')
  // Plugins run from their compiled JavaScript, linked ones too: pupistry never
  // compiles a plugin's TypeScript at run time (and oclif would warn on every
  // command that it cannot for an ESM plugin).
  settings.enableAutoTranspile = false
  await execute({dir: import.meta.url})
}
