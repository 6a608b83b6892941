import type {downloadArtifact as Download} from '../artifact/download.js'
import type {
  ensureSealed as EnsureSealed,
  isMaterialised as IsMaterialised,
  prepareSealed as PrepareSealed,
  previewSealed as PreviewSealed,
  pruneSealedCache as PruneSealedCache,
} from '../sealed/agent-step.js'

/*
 * The steps a check with nothing new never takes, loaded when a run takes
 * them: a node checks every few minutes, and loading the sealed-data code
 * (with its glob matcher) and the downloader costs more than the check.
 */

export const downloadArtifact: typeof Download = async (...args) =>
  (await import('../artifact/download.js')).downloadArtifact(...args)

export const prepareSealed: typeof PrepareSealed = async (...args) =>
  (await import('../sealed/agent-step.js')).prepareSealed(...args)

export const ensureSealed: typeof EnsureSealed = async (...args) =>
  (await import('../sealed/agent-step.js')).ensureSealed(...args)

export const previewSealed: typeof PreviewSealed = async (...args) =>
  (await import('../sealed/agent-step.js')).previewSealed(...args)

export const isMaterialised: typeof IsMaterialised = async (...args) =>
  (await import('../sealed/agent-step.js')).isMaterialised(...args)

export const pruneSealedCache: typeof PruneSealedCache = async (...args) =>
  (await import('../sealed/agent-step.js')).pruneSealedCache(...args)
