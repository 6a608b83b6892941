# @summary Installs pupistry and its plugins from npm at exact versions
#   (nothing with `install_method => none`).
#
# @api private
class pupistry::install {
  assert_private()

  if $pupistry::install_method == 'npm' {
    $registry_env = $pupistry::npm_registry ? {
      undef   => [],
      default => ["npm_config_registry=${pupistry::npm_registry}"],
    }
    $path = ["${pupistry::prefix}/node/bin", '/usr/local/bin', '/usr/bin', '/bin']
    # Installed when the version on disk differs, so a run with nothing to do reaches no registry.
    $same_version = 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)'

    exec { 'pupistry: npm install':
      command     => ['npm', 'install', '--global', '--prefix', $pupistry::prefix, '--no-audit', '--no-fund', '--omit=dev',
      "pupistry@${pupistry::version}"],
      unless      => ['node', '-e', $same_version, "${pupistry::prefix}/lib/node_modules/pupistry/package.json", $pupistry::version],
      path        => $path,
      environment => ['HOME=/root'] + $registry_env,
      timeout     => 600,
    }
    -> file { $pupistry::bin:
      ensure => link,
      target => "${pupistry::prefix}/bin/pupistry",
    }

    $pupistry::plugins.each |$name, $version| {
      exec { "pupistry: plugins install ${name}":
        command     => [$pupistry::bin, 'plugins', 'install', "${name}@${version}"],
        unless      => ['node', '-e', $same_version, "${pupistry::plugin_dir}/node_modules/${name}/package.json", $version],
        path        => $path,
        environment => ['HOME=/root'] + $registry_env,
        timeout     => 600,
        require     => File[$pupistry::bin],
      }
    }
  }
}
