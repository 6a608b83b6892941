import {parentPort, workerData} from 'node:worker_threads'

import {unpackArtifact} from '../artifact/unpack.js'
import {isDiskFull, LocalDiskError, VerificationError} from '../errors.js'
import {pausePoint} from './pause.js'
import type {UnpackJob, UnpackOutcome} from './unpack-thread.js'

/** Runs one extraction off the main thread, so the agent can abandon it at once. */
const job = workerData as UnpackJob
let outcome: UnpackOutcome
try {
  await unpackArtifact(job.file, job.dest, job.limits, {started: () => pausePoint('unpack')}, job.shape)
  outcome = {ok: true}
} catch (error) {
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof VerificationError || error instanceof LocalDiskError) {
    outcome = {kind: error instanceof VerificationError ? 'verification' : 'disk', message, ok: false}
  } else if (isDiskFull(error)) {
    outcome = {kind: 'disk', message: `no room to unpack into ${job.dest} (${message})`, ok: false}
  } else {
    outcome = {kind: 'other', message: `cannot unpack ${job.file} into ${job.dest}: ${message}`, ok: false}
  }
}

parentPort?.postMessage(outcome)
