import {readdirSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {CONTRACT_VERSION, type PupistryHook, type TemplateDescriptor} from '../contracts.js'

const TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url))

type Entry = Omit<TemplateDescriptor, 'contract' | 'path' | 'kind'>

const BOOTSTRAP: Entry[] = [
  {
    name: 'ubuntu-14.04',
    aliases: ['ubuntu14'],
    description: 'Ubuntu 14.04 (end of life; upstart, Node.js from a glibc 2.17 tarball)',
  },
  {name: 'ubuntu-20.04', description: 'Ubuntu 20.04: Puppet package, Node.js tarball'},
  {name: 'ubuntu-22.04', description: 'Ubuntu 22.04: Puppet package, Node.js tarball'},
  {name: 'ubuntu-24.04', description: 'Ubuntu 24.04: Puppet package, Node.js tarball'},
  {name: 'debian-11', description: 'Debian 11: Puppet package, Node.js tarball'},
  {name: 'debian-12', description: 'Debian 12: Puppet package, Node.js tarball'},
  {name: 'debian-13', description: 'Debian 13: Puppet and Node.js packages'},
  {
    name: 'rhel-8',
    aliases: ['rocky-8', 'alma-8'],
    description: 'RHEL, Rocky Linux, AlmaLinux 8: Puppet repository, Node.js 22 module',
  },
  {
    name: 'rhel-9',
    aliases: ['rocky-9', 'alma-9'],
    description: 'RHEL, Rocky Linux, AlmaLinux 9: Puppet repository, Node.js 22 module',
  },
  {
    name: 'centos-7',
    aliases: ['rhel7', 'centos7'],
    description: 'CentOS 7 (end of life; Puppet repository, Node.js from a glibc 2.17 tarball)',
  },
  {name: 'amazon-linux-2023', description: 'Amazon Linux 2023: Puppet repository, Node.js 22 package'},
  {name: 'fedora', description: 'Fedora: Puppet and Node.js packages'},
]

const PACKER: Entry[] = [
  {
    name: 'aws-ubuntu-24.04',
    description: 'AWS AMI (amazon-ebs) of Ubuntu 24.04 with the ubuntu-24.04 bootstrap baked in',
  },
  {
    name: 'aws-amazon-linux-2023',
    description: 'AWS AMI (amazon-ebs) of Amazon Linux 2023 with the amazon-linux-2023 bootstrap baked in',
  },
]

const CI: Entry[] = [
  {
    name: 'github',
    description: 'GitHub Actions: review pull requests with a diff comment, publish merges (OIDC for S3)',
  },
  {
    name: 'gitlab',
    description: 'GitLab CI: review merge requests with a diff note, publish merges (OIDC for S3)',
  },
]

/** The core's templates: files under templates/ (shipped in the package), one descriptor each. */
const hook: PupistryHook<'pupistry:templates'> = () => {
  const partials = readdirSync(`${TEMPLATES}partials`)
    .filter((file) => file.endsWith('.hbs'))
    .sort()
    .map((file) => ({
      contract: CONTRACT_VERSION,
      description: 'a partial: steps shared by the core templates',
      kind: 'partial' as const,
      name: file.replace(/\..*$/, ''),
      path: `${TEMPLATES}partials/${file}`,
    }))
  return [
    ...BOOTSTRAP.map((entry) => ({
      ...entry,
      contract: CONTRACT_VERSION,
      kind: 'bootstrap' as const,
      path: `${TEMPLATES}bootstrap/${entry.name}.sh.hbs`,
    })),
    ...PACKER.map((entry) => ({
      ...entry,
      contract: CONTRACT_VERSION,
      kind: 'packer' as const,
      path: `${TEMPLATES}packer/${entry.name}.pkr.hcl.hbs`,
    })),
    ...CI.map((entry) => ({
      ...entry,
      contract: CONTRACT_VERSION,
      kind: 'ci' as const,
      path: `${TEMPLATES}ci/${entry.name}.yml.hbs`,
    })),
    ...partials,
  ]
}

export default hook
