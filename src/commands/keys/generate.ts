import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {DEFAULT_KEY_DIR, generateKeyFiles, generateMacKeyFile, MAC_KEY_NAME} from '../../signing/keys.js'

export default class KeysGenerate extends BaseCommand<typeof KeysGenerate> {
  static override description =
    `Make an OpenPGP signing key (ECC, Ed25519) for pupistry push.

Writes the secret key (0600) and the public key as armoured files. Point general.signing_key_file at the ` +
    `secret one on the build side, and list the public one in general.trusted_keys on nodes. With ` +
    `PUPISTRY_SIGNING_PASSPHRASE set, the secret key is protected by that passphrase.`

  static override examples = [
    '<%= config.bin %> keys generate',
    '<%= config.bin %> keys generate --user-id "Ops <ops@example.com>" --dir /etc/pupistry/keys',
    '<%= config.bin %> keys generate --mac-key',
  ]
  static override flags = {
    dir: Flags.string({default: DEFAULT_KEY_DIR, description: 'directory to write the key files to'}),
    force: Flags.boolean({description: 'replace existing key files'}),
    'mac-key': Flags.boolean({
      description: `instead, make the key for build.hieracrypt_mac_key_file (${MAC_KEY_NAME}, 32 random bytes)`,
    }),
    name: Flags.string({
      default: 'pupistry-signing',
      description: 'file name stem: NAME.secret.asc and NAME.public.asc',
    }),
    'user-id': Flags.string({description: 'user id of the key, e.g. "Ops <ops@example.com>"'}),
  }

  async run(): Promise<void> {
    if (this.flags['mac-key']) {
      const file = await generateMacKeyFile({dir: this.flags.dir, force: this.flags.force})
      this.log(`MAC key:     ${file}   (build side: build.hieracrypt_mac_key_file)`)
      return
    }

    const result = await generateKeyFiles(await this.runtime(), {
      dir: this.flags.dir,
      force: this.flags.force,
      name: this.flags.name,
      passphrase: process.env.PUPISTRY_SIGNING_PASSPHRASE,
      userId: this.flags['user-id'],
    })
    this.log(`fingerprint: ${result.fingerprint}`)
    this.log(`secret key:  ${result.secretKeyFile}   (build side: general.signing_key_file)`)
    this.log(`public key:  ${result.publicKeyFile}   (nodes: general.trusted_keys)`)
  }
}
