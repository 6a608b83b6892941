import {BaseCommand} from '../cli/base-command.js'
import {type Check, doctor} from '../doctor/doctor.js'
import {formatChecks} from '../formatters/doctor.js'

export default class Doctor extends BaseCommand<typeof Doctor> {
  static override enableJsonFlag = true
  static override description = `Check settings, tools, keys and the store, as each side uses them.

On a build machine (build.puppetcode set): the assembler and its tool, the signing key, and that the build credentials can write, read back and delete a probe object. On a node (agent.* or general.trusted_keys set): the trusted keys, Puppet, that the agent credentials can read and verify the live manifest and its artifact, that they can NOT write (least privilege; a warning), and whether anyone without credentials can read the store (a warning; artifacts carry hiera data). Exits 0 when nothing failed (warnings included), otherwise with the exit code of the first failure.`

  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json']
  async run(): Promise<{checks: Check[]; ok: boolean}> {
    const checks = await doctor(await this.runtime())
    const failure = checks.find((check) => check.status === 'fail')
    this.print(formatChecks(checks))
    // A failed check is part of the report, not an error: the report is still the output, with the check's code.
    if (failure) process.exitCode = failure.exitCode ?? 1
    return {checks, ok: !failure}
  }
}
