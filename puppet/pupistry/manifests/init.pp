# @summary Manages pupistry on a node: its settings, the keys it trusts, and
#   the systemd units that run it. Never touches puppet.conf or hiera.yaml.
#
# Defaults (data/common.yaml) are the paths `pupistry bootstrap` uses, so a
# node bootstrapped first is taken over without moving anything. The units
# are byte-identical to the ones bootstrap writes for the same choices.
#
# @example A node reading an S3 store, run as a daemon
#   class { 'pupistry':
#     storage      => 's3://acme-puppet/fleet',
#     region       => 'eu-west-1',
#     trusted_keys => { 'release.asc' => file('profile/pupistry/release.asc') },
#   }
#
# @param install_method
#   `none` (pupistry is installed by bootstrap or an image) or `npm`:
#   `npm install --global` of exactly `version` into `prefix`.
# @param version
#   The exact pupistry version for `install_method => npm` (never a range or `latest`).
# @param npm_registry
#   The npm registry to install from (npm's own configured one when unset).
# @param plugins
#   Plugins to install with `pupistry plugins install`, name → exact version.
# @param prefix
#   npm's global prefix for pupistry; Node.js is looked for in `<prefix>/node/bin` first.
# @param bin
#   The pupistry command the units run (linked to the npm install with `install_method => npm`).
# @param plugin_dir
#   pupistry's data directory for root, where installed plugins live.
# @param config_dir
#   The directory of the settings file and trusted keys (0755 root).
# @param config_file
#   The settings file (0600 root).
# @param trusted_keys_dir
#   The directory of trusted keys: purged, so that a key removed here stops being trusted.
# @param unit_dir
#   Where the systemd units are written.
# @param storage
#   `general.storage`: the store URL (`s3://bucket/prefix`, `file:///srv/pupistry`, `https://` mirror).
# @param mirror
#   `agent.storage`: where nodes read from when that is not the store pushes write to.
# @param environment
#   `agent.environment`: the environment this node applies.
# @param app_cache
#   `general.app_cache`: the agent's state and lock.
# @param puppetcode
#   `agent.puppetcode`: Puppet's environment path.
# @param releases
#   `agent.releases`: where releases are unpacked.
# @param keep_releases
#   `agent.keep_releases`: releases kept for rollback.
# @param puppet
#   `agent.puppet`: the Puppet (or OpenVox) executable.
# @param interval
#   `agent.daemon_frequency`: seconds between runs; also the timer's interval (300 when unset).
# @param daemon_minimal
#   `agent.daemon_minimal`: the daemon runs Puppet only when a release was installed.
# @param splay
#   `agent.daemon_splay`: random delay added to every interval.
# @param run_timeout
#   `agent.run_timeout`: a run taking longer is stopped.
# @param stop_timeout
#   `agent.stop_timeout` in seconds: how long a stopping daemon lets Puppet finish
#   (60 when unset); the unit's TimeoutStopSec follows it.
# @param region
#   `agent.region`: the bucket's region.
# @param access_key_id
#   `agent.access_key_id`: read-only store credentials (with `secret_access_key`).
# @param secret_access_key
#   `agent.secret_access_key`.
# @param gpg_disable
#   `general.gpg_disable`: accept manifests without checking signatures. Anyone
#   who can write the store then runs code as root here.
# @param trusted_keys
#   Armoured OpenPGP public keys, file name → text, written to `trusted_keys_dir`.
# @param extra_settings
#   Settings merged last, key by key, over the ones above (`{'agent' => {'allow_insecure_http' => true}}`),
#   so a key that is new in pupistry works without a new release of this module.
# @param run_mode
#   `daemon` (`pupistry apply --daemon`), `timer` (a oneshot `pupistry apply --minimal`
#   started by `pupistry.timer`), or `none` (units removed).
# @param log_format
#   `--log-format` of the service's runs; `json` adds `--log-format json` to the unit's command.
# @param manage_service
#   Whether to start, enable and reload the units (the files are written either way).
# @param manage_puppet_agent
#   Stop and disable the `puppet` agent service, which would apply a server's catalog instead.
class pupistry (
  Pupistry::InstallMethod $install_method,
  Hash[Pupistry::PluginName, Pupistry::ExactVersion] $plugins,
  Stdlib::Absolutepath $prefix,
  Pupistry::UnitPath $bin,
  Stdlib::Absolutepath $plugin_dir,
  Stdlib::Absolutepath $config_dir,
  Pupistry::UnitPath $config_file,
  Stdlib::Absolutepath $trusted_keys_dir,
  Stdlib::Absolutepath $unit_dir,
  Pupistry::Environment $environment,
  Stdlib::Absolutepath $app_cache,
  Boolean $gpg_disable,
  Hash[Pupistry::KeyFileName, String[1]] $trusted_keys,
  Pupistry::Settings $extra_settings,
  Pupistry::RunMode $run_mode,
  Pupistry::LogFormat $log_format,
  Boolean $manage_service,
  Boolean $manage_puppet_agent,
  Optional[Pupistry::ExactVersion] $version = undef,
  Optional[Stdlib::HTTPUrl] $npm_registry = undef,
  Optional[String[1]] $storage = undef,
  Optional[String[1]] $mirror = undef,
  Optional[Stdlib::Absolutepath] $puppetcode = undef,
  Optional[Stdlib::Absolutepath] $releases = undef,
  Optional[Integer[1]] $keep_releases = undef,
  Optional[String[1]] $puppet = undef,
  Optional[Integer[1]] $interval = undef,
  Optional[Boolean] $daemon_minimal = undef,
  Optional[Pupistry::Duration] $splay = undef,
  Optional[Pupistry::Duration] $run_timeout = undef,
  Optional[Integer[0]] $stop_timeout = undef,
  Optional[String[1]] $region = undef,
  Optional[Sensitive[String[1]]] $access_key_id = undef,
  Optional[Sensitive[String[1]]] $secret_access_key = undef,
) {
  if $install_method == 'npm' and $version =~ Undef {
    fail('pupistry: install_method npm needs an exact version')
  }
  if ($access_key_id =~ Undef) != ($secret_access_key =~ Undef) {
    fail('pupistry: set both access_key_id and secret_access_key, or neither (to use the instance role)')
  }
  if $trusted_keys.empty and !$gpg_disable {
    fail('pupistry: no trusted_keys: the node would refuse every release (set gpg_disable only if you accept unsigned code)')
  }
  $trusted_keys.each |$name, $text| {
    if $text =~ /-----BEGIN PGP PRIVATE KEY BLOCK-----/ {
      fail("pupistry: trusted_keys ${name} holds a SECRET key; nodes get public keys only")
    }
    if $text !~ /-----BEGIN PGP PUBLIC KEY BLOCK-----/ {
      fail("pupistry: trusted_keys ${name} is not an armoured OpenPGP public key")
    }
  }
  $extra_store = [['general', 'storage'], ['general', 's3_bucket'], ['agent', 'storage']].any |$key| {
    $extra_settings.dig(*$key) =~ NotUndef
  }
  if $storage =~ Undef and $mirror =~ Undef and !$extra_store {
    fail('pupistry: no store: set storage (or mirror, or general.s3_bucket in extra_settings)')
  }

  contain pupistry::install
  contain pupistry::config
  contain pupistry::service

  Class['pupistry::install'] -> Class['pupistry::config'] -> Class['pupistry::service']
}
