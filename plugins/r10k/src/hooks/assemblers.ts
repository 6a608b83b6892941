import type {PupistryHook} from 'pupistry'

const hook: PupistryHook<'pupistry:assemblers'> = () => [
  {
    contract: 2,
    async create(context) {
      const {R10kAssembler} = await import('../r10k-assembler.js')
      return new R10kAssembler(context)
    },
    description: 'Deploys every branch of build.puppetcode and its Puppetfile modules with r10k.',
    name: 'r10k',
    settings: ['build.puppetcode', 'general.app_cache'],
  },
]

export default hook
