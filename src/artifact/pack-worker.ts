import {parentPort, workerData} from 'node:worker_threads'

import {type PackOutcome, packTree} from './pack.js'

/** Packs one tree off the main thread, so a build can be interrupted at once. */
const {root, outFile} = workerData as {root: string; outFile: string}
let outcome: PackOutcome
try {
  outcome = {ok: true, result: await packTree(root, outFile)}
} catch (error) {
  outcome = {message: error instanceof Error ? error.message : String(error), ok: false}
}

parentPort?.postMessage(outcome)
