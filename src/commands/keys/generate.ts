import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import type {PathSource} from '../../config/path-sources.js'
import {expandHome} from '../../config/settings.js'
import {DEFAULT_KEY_DIR, generateKeyFiles, generateMacKeyFile, MAC_KEY_NAME} from '../../signing/keys.js'

export default class KeysGenerate extends BaseCommand<typeof KeysGenerate> {
  static override description =
    `Make an OpenPGP signing key for pupistry push: ECC (Ed25519) by default, or --type rsa (RSA 3072).

Writes the secret key (0600) and the public key as armoured files. Point general.signing_key_file at the ` +
    `secret one on the build side, and list the public one in general.trusted_keys on nodes. With ` +
    `PUPISTRY_SIGNING_PASSPHRASE set, the secret key is protected by that passphrase.

Ed25519 keys are read by GnuPG 2.1 and later. The Ruby tool's agents verify with their system gpg: ` +
    `for nodes with GnuPG 1.4 or 2.0 (build.legacy_layout), make an RSA key.`

  static override examples = [
    '<%= config.bin %> keys generate',
    '<%= config.bin %> keys generate --user-id "Ops <ops@example.com>" --dir /etc/pupistry/keys',
    '<%= config.bin %> keys generate --type rsa',
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
    type: Flags.option({
      default: 'ecc',
      description: 'ecc (Ed25519: GnuPG 2.1+) or rsa (RSA 3072: also GnuPG 1.4 and 2.0)',
      options: ['ecc', 'rsa'] as const,
    })(),
    'user-id': Flags.string({description: 'user id of the key, e.g. "Ops <ops@example.com>"'}),
  }

  protected override pathSources(): PathSource[] {
    return [{path: expandHome(this.flags.dir), source: '--dir'}]
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
      type: this.flags.type,
      userId: this.flags['user-id'],
    })
    this.log(`fingerprint: ${result.fingerprint}`)
    this.log(`secret key:  ${result.secretKeyFile}   (build side: general.signing_key_file)`)
    this.log(`public key:  ${result.publicKeyFile}   (nodes: general.trusted_keys)`)
  }
}
