# @summary Writes settings.yaml and the trusted keys.
#
# @api private
class pupistry::config {
  assert_private()

  $general = {
    'storage'      => $pupistry::storage,
    'app_cache'    => $pupistry::app_cache,
    'trusted_keys' => [$pupistry::trusted_keys_dir],
    'gpg_disable'  => $pupistry::gpg_disable ? { true => true, default => undef },
  }
  $agent = {
    'environment'       => $pupistry::environment,
    'storage'           => $pupistry::mirror,
    'puppetcode'        => $pupistry::puppetcode,
    'releases'          => $pupistry::releases,
    'keep_releases'     => $pupistry::keep_releases,
    'puppet'            => $pupistry::puppet,
    'daemon_frequency'  => $pupistry::interval,
    'daemon_minimal'    => $pupistry::daemon_minimal,
    'daemon_splay'      => $pupistry::splay,
    'run_timeout'       => $pupistry::run_timeout,
    'stop_timeout'      => $pupistry::stop_timeout,
    'region'            => $pupistry::region,
    'access_key_id'     => $pupistry::access_key_id.then |$key| { $key.unwrap },
    'secret_access_key' => $pupistry::secret_access_key.then |$secret| { $secret.unwrap },
  }
  $own = {
    'general' => $general.filter |$key, $value| { $value =~ NotUndef },
    'agent'   => $agent.filter |$key, $value| { $value =~ NotUndef },
  }
  # extra_settings last, key by key: a section there adds to ours instead of replacing it.
  $settings = ($own.keys + $pupistry::extra_settings.keys).unique.reduce({}) |$merged, $section| {
    $merged + { $section => $own.get($section, {}) + $pupistry::extra_settings.get($section, {}) }
  }
  $text = pupistry::settings_yaml($settings, 'Managed by Puppet (class pupistry): change the class parameters, not this file.')
  # A secret key, or a store URL with a user and password in it (a mirror's basic auth).
  $urls = [$settings['general']['storage'], $settings['agent']['storage']]
  $credentials = $settings['agent']['secret_access_key'] =~ NotUndef or $urls.any |$url| {
    $url =~ String and $url =~ /\A[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\/]*@/
  }
  $content = $credentials ? {
    true    => Sensitive($text),
    default => $text,
  }

  file { $pupistry::config_dir:
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0755',
  }

  file { $pupistry::config_file:
    ensure    => file,
    owner     => 'root',
    group     => 'root',
    mode      => '0600',
    # Credentials stay out of reports and diffs.
    content   => $content,
    show_diff => !$credentials,
  }

  # Purged: a key taken out of trusted_keys is deleted, so it really stops being trusted.
  file { $pupistry::trusted_keys_dir:
    ensure  => directory,
    owner   => 'root',
    group   => 'root',
    mode    => '0755',
    recurse => true,
    purge   => true,
    force   => true,
  }

  $pupistry::trusted_keys.each |$name, $key| {
    file { "${pupistry::trusted_keys_dir}/${name}":
      ensure  => file,
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
      content => $key,
    }
  }
}
