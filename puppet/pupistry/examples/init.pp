# A node bootstrapped with `pupistry bootstrap`, now managed by Puppet: the same
# store, the release key, the daemon. Credentials come from the instance role.
class { 'pupistry':
  storage      => 's3://acme-puppet/fleet',
  region       => 'eu-west-1',
  trusted_keys => {
    'release.asc' => file('profile/pupistry/release.asc'),
  },
}
