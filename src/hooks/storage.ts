import {CONTRACT_VERSION, type PupistryHook} from '../contracts.js'

const hook: PupistryHook<'pupistry:storage'> = () => [
  {
    contract: CONTRACT_VERSION,
    async create(url) {
      const {FileStore} = await import('../store/file-store.js')
      return new FileStore(url)
    },
    description: 'Objects as files below a directory, on a local disk or a shared mount (built in).',
    name: 'file',
    schemes: ['file'],
    settings: ['general.storage'],
  },
]

export default hook
