import {copyFile, mkdir, stat} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {UsageError} from '../errors.js'

export const EXAMPLE_SETTINGS = fileURLToPath(new URL('../../templates/settings.example.yaml', import.meta.url))

/** Writes the commented example settings file, never over an existing one unless forced. */
export async function writeExampleSettings(target: string, force: boolean): Promise<void> {
  if (!force && (await stat(target).catch(() => undefined))) {
    throw new UsageError(`${target} already exists; use --force to replace it with the example`)
  }

  await mkdir(path.dirname(target), {mode: 0o700, recursive: true})
  await copyFile(EXAMPLE_SETTINGS, target)
}
