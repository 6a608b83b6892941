import type {PupistryHook} from 'pupistry'

const hook: PupistryHook<'pupistry:signers'> = () => [
  {
    contract: 2,
    async createSigner(context) {
      const {OpenPgpSigner} = await import('../openpgp-signer.js')
      return new OpenPgpSigner(context)
    },
    async createVerifier() {
      const {OpenPgpVerifier} = await import('../openpgp-signer.js')
      return new OpenPgpVerifier()
    },
    description:
      'OpenPGP signatures made with openpgp.js from an armoured secret key file; verifies GnuPG signatures too.',
    name: 'openpgp',
    settings: ['general.signing_key_file', 'general.trusted_keys'],
  },
]

export default hook
