import {parentPort, workerData} from 'node:worker_threads'

import {type PackOutcome, type PackProgress, packTree} from './pack.js'

/** Packs one tree off the main thread, so a build can be interrupted at once. */
const {exclude, outFile, root} = workerData as {root: string; outFile: string; exclude?: string[]}
const left = exclude && new Set(exclude)
let outcome: PackOutcome
try {
  const say = (progress: PackProgress['progress']) => parentPort?.postMessage({progress} satisfies PackProgress)
  const startMeter = (total: number) => {
    say({total})
    return {advance: (bytes: number) => say({advance: bytes}), done: () => say({done: true})}
  }
  outcome = {ok: true, result: await packTree(root, outFile, startMeter, left && ((relative) => left.has(relative)))}
} catch (error) {
  outcome = {message: error instanceof Error ? error.message : String(error), ok: false}
}

parentPort?.postMessage(outcome)
