import {BaseCommand} from '../../cli/base-command.js'
import {exportPublicKey} from '../../signing/keys.js'

export default class KeysExport extends BaseCommand<typeof KeysExport> {
  static override description = `Print the public key of the configured signing key, for nodes' general.trusted_keys.

Works with general.signing_key_file and with general.gpg_signing_key.`

  static override examples = ['<%= config.bin %> keys export > pupistry.public.asc']

  async run(): Promise<void> {
    process.stdout.write(await exportPublicKey(await this.runtime()))
  }
}
