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
    node: {settings: ['general.storage']},
    prefixOf: () => '',
    schemes: ['file'],
    settings: ['general.storage'],
  },
  {
    contract: CONTRACT_VERSION,
    async create(url, context) {
      const {HttpStore} = await import('../store/http-store.js')
      const stall = Number(context.settings.agent.transfer_timeout ?? 0)
      return new HttpStore(url, {
        allowInsecure: context.settings.agent.allow_insecure_http === true,
        ...(stall ? {headersTimeoutMs: stall * 1000, idleTimeoutMs: stall * 1000} : {}),
      })
    },
    description: 'A read-only mirror of a store over HTTPS (a CDN or any web server), for agents (built in).',
    name: 'http',
    node: {settings: ['agent.storage', 'agent.allow_insecure_http']},
    prefixOf: () => '',
    schemes: ['https', 'http'],
    settings: ['agent.storage', 'agent.allow_insecure_http', 'agent.transfer_timeout'],
  },
]

export default hook
