# pupistry installed from a private npm registry at an exact version, with a
# plugin, run every 15 minutes by a systemd timer, logging JSON. Read-only
# store credentials come from Hiera as Sensitive values.
class { 'pupistry':
  install_method    => 'npm',
  version           => '3.0.0',
  npm_registry      => 'https://npm.internal.example.com/',
  plugins           => { '@pupistry/librarian' => '3.0.0' },
  storage           => 's3://acme-puppet/fleet',
  region            => 'eu-west-1',
  access_key_id     => Sensitive(lookup('profile::pupistry::access_key_id')),
  secret_access_key => Sensitive(lookup('profile::pupistry::secret_access_key')),
  trusted_keys      => {
    'release-2026.asc' => file('profile/pupistry/release-2026.asc'),
    'release-2027.asc' => file('profile/pupistry/release-2027.asc'),
  },
  run_mode          => 'timer',
  interval          => 900,
  log_format        => 'json',
  extra_settings    => { 'agent' => { 'daemon_minimal' => true } },
}
