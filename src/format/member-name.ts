/** A certname or sealed-hiera group name: what Puppet accepts as a certname, so it is also a safe file name. */
export const MEMBER_NAME = /^[a-z0-9][a-z0-9._-]{0,252}$/
