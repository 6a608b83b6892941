import type {PupistryHook} from 'pupistry'

const hook: PupistryHook<'pupistry:assemblers'> = () => [
  {
    contract: 2,
    async create(context) {
      const {LibrarianAssembler} = await import('../librarian-assembler.js')
      return new LibrarianAssembler(context)
    },
    description: 'Checks out every branch of build.puppetcode and installs its Puppetfile with librarian-puppet.',
    name: 'librarian',
    settings: ['build.puppetcode', 'general.app_cache'],
  },
]

export default hook
