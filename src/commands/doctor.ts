import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {type CheckStatus, doctor} from '../doctor/doctor.js'

const MARK: Record<CheckStatus, string> = {fail: 'FAIL', ok: 'ok', skip: 'skip', warn: 'WARN'}

export default class Doctor extends BaseCommand<typeof Doctor> {
  static override description = `Check settings, tools, keys and the store, as each side uses them.

On a build machine (build.puppetcode set): the assembler and its tool, the signing key, and that the build credentials can write, read back and delete a probe object. On a node (agent.* or general.trusted_keys set): the trusted keys, Puppet, that the agent credentials can read and verify the live manifest and its artifact, that they can NOT write (least privilege; a warning), and whether anyone without credentials can read the store (a warning; artifacts carry hiera data). Exits 0 when nothing failed (warnings included), otherwise with the exit code of the first failure.`

  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json']
  static override flags = {
    json: Flags.boolean({description: 'print the checks as JSON'}),
  }

  async run(): Promise<void> {
    const checks = await doctor(await this.runtime())
    const failure = checks.find((check) => check.status === 'fail')
    if (this.flags.json) {
      this.log(JSON.stringify({checks, ok: !failure}, null, 2))
    } else {
      const width = Math.max(...checks.map((check) => check.name.length))
      for (const check of checks) this.log(`${MARK[check.status].padEnd(4)}  ${check.name.padEnd(width)}  ${check.detail}`)
    }

    if (failure) process.exitCode = failure.exitCode ?? 1
  }
}
