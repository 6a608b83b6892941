import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {type NodePolicies, nodePolicies} from '../doctor/iam-policy.js'
import {storeUrl} from '../store/open-store.js'
import {type Check, doctor} from '../doctor/doctor.js'
import {ChecksFailedError, EXIT} from '../errors.js'
import {formatChecks, formatPolicies} from '../formatters/doctor.js'

export default class Doctor extends BaseCommand<typeof Doctor> {
  static override enableJsonFlag = true
  static override description =
    `Check settings, tools, keys and the store, as each side uses them.

On a build machine (build.puppetcode set): the assembler and its tool, the signing key, and that the ` +
    `build credentials can write, read back and delete a probe object. On a node (agent.* or ` +
    `general.trusted_keys set): the trusted keys, Puppet, that the agent credentials can read and verify ` +
    `the live manifest and its artifact, that they can NOT write (least privilege; a warning), and ` +
    `whether anyone without credentials can read the store (a warning; artifacts carry hiera data). Exits ` +
    `0 when nothing failed (warnings included), otherwise with the exit code of the first failure.`

  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --json',
    '<%= config.bin %> doctor --print-iam-policy',
  ]
  static override flags = {
    'print-iam-policy': Flags.boolean({
      description:
        "print a node's least-privilege S3 policies instead of checking: read the store (no reports), and " +
        `write its own fleet reports only, below \${aws:userid}`,
    }),
  }

  async run(): Promise<{checks: Check[]; ok: boolean} | NodePolicies> {
    if (this.flags['print-iam-policy']) {
      const policies = nodePolicies(storeUrl(await this.runtime(), 'build'))
      this.print(formatPolicies(policies))
      return policies
    }

    const checks = await doctor(await this.runtime())
    const failed = checks.filter((check) => check.status === 'fail')
    this.print(formatChecks(checks))
    if (failed.length > 0) {
      const message = `${failed.length} check(s) failed: ${failed.map((check) => check.name).join(', ')}`
      throw new ChecksFailedError(message, failed[0].exitCode ?? EXIT.internal, {details: {checks, ok: false}})
    }

    return {checks, ok: true}
  }
}
