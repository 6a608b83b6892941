import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {Errors} from '@oclif/core'

import {describeFailure} from '../src/cli/failure.js'
import {BugError, EXIT, NotFoundError, PupistryError} from '../src/errors.js'

describe('error kinds and what --json prints for them', () => {
  it('a bug is its own kind: exit 1, says so and asks for a report', () => {
    const bug = new BugError('the unpacking thread stopped without an answer')
    assert.ok(bug instanceof PupistryError)
    assert.equal(bug.name, 'BugError')
    assert.equal(bug.exitCode, EXIT.internal)
    assert.equal(
      bug.message,
      'this is a bug in pupistry: the unpacking thread stopped without an answer; please report it',
    )
    assert.deepEqual(describeFailure(bug), {exitCode: 1, hint: bug.hint, message: bug.message, name: 'BugError'})
    assert.notEqual(new PupistryError('x').name, 'BugError', 'the base error is not the bug kind')
  })

  it('typed errors keep their name, code and hint; details only when there are some', () => {
    const error = new NotFoundError('nothing has been built yet', {hint: 'run `pupistry build` first'})
    assert.deepEqual(describeFailure(error), {
      exitCode: 15,
      hint: 'run `pupistry build` first',
      message: 'nothing has been built yet',
      name: 'NotFoundError',
    })
    const detailed = new NotFoundError('x', {details: [{environment: 'production'}]})
    assert.deepEqual(describeFailure(detailed).details, [{environment: 'production'}])
  })

  it("oclif's own errors are usage errors; anything else is internal", () => {
    const usage = describeFailure(new Errors.CLIError('Nonexistent flag: --bogus', {exit: 2}))
    assert.deepEqual(usage, {exitCode: 2, message: 'Nonexistent flag: --bogus', name: 'UsageError'})
    const internal = describeFailure(new TypeError('x is not a function'))
    assert.deepEqual(internal, {exitCode: 1, message: 'x is not a function', name: 'InternalError'})
  })
})
