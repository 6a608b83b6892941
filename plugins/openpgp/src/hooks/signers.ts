import type {PupistryHook} from 'pupistry'

const hook: PupistryHook<'pupistry:signers'> = () => [
  {
    contract: 1,
    async create(context) {
      const {OpenPgpSigner} = await import('../openpgp-signer.js')
      return new OpenPgpSigner(context)
    },
    description: 'OpenPGP signatures made with openpgp.js from an armoured secret key file; verifies GnuPG signatures too.',
    name: 'openpgp',
    settings: ['general.signing_key_file', 'general.trusted_keys'],
  },
]

export default hook
