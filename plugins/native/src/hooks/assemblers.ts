import type {PupistryHook} from 'pupistry'

const hook: PupistryHook<'pupistry:assemblers'> = () => [
  {
    contract: 2,
    async create(context) {
      const {NativeAssembler} = await import('../native-assembler.js')
      return new NativeAssembler(context)
    },
    description:
      'Deploys every branch of build.puppetcode and its Puppetfile modules itself, with git and the Forge API (the same trees as r10k).',
    name: 'native',
    settings: ['build.puppetcode', 'build.forge', 'build.pool_size', 'general.app_cache'],
  },
]

export default hook
