/*
 * The entry point of bin/run.js's lean path (src/cli/lean.ts), which the
 * build bundles into dist/agent-bundle/ (scripts/bundle.mjs). It sits on top
 * with the commands because it names the CLI's own hook files.
 */
import {leanApply as lean} from './cli/lean.js'
import type {OwnHooks} from './registry/core-hooks.js'

/** package.json's hooks of the CLI itself, imported statically (coreHookRunner says why). */
const OWN_HOOKS: OwnHooks = {
  './dist/hooks/storage.js': () => import('./hooks/storage.js'),
  './dist/hooks/templates.js': () => import('./hooks/templates.js'),
}

/** A plain single `apply` without oclif; false when oclif must run the command. */
export const leanApply = (argv: string[], cliRoot: string): Promise<boolean> => lean(argv, cliRoot, OWN_HOOKS)
