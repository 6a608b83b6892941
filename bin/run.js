#!/usr/bin/env node
import {execute, settings} from '@oclif/core'

// Plugins run from their compiled JavaScript, linked ones too: pupistry never
// compiles a plugin's TypeScript at run time (and oclif would warn on every
// command that it cannot for an ESM plugin).
settings.enableAutoTranspile = false

await execute({dir: import.meta.url})
