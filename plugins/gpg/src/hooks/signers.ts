import type {PupistryHook} from 'pupistry'

const hook: PupistryHook<'pupistry:signers'> = () => [
  {
    contract: 2,
    // No verifier of its own: openpgp checks gpg's signatures, so nodes need no gpg.
    async createSigner(context) {
      const {GpgSigner} = await import('../gpg-signer.js')
      return new GpgSigner(context)
    },
    description:
      'Signs with the system gpg and a key id from your keyring (gpg-agent and smartcards work); nodes verify with openpgp.',
    name: 'gpg',
    settings: ['general.gpg_signing_key'],
  },
]

export default hook
