# @summary The systemd units for `run_mode`, their state, and the puppet agent stopped.
#
# @api private
class pupistry::service {
  assert_private()

  $service_file = "${pupistry::unit_dir}/pupistry.service"
  $timer_file = "${pupistry::unit_dir}/pupistry.timer"
  $units = pupistry::units($pupistry::run_mode, $pupistry::bin, $pupistry::config_file, $pupistry::log_format,
  $pupistry::interval, $pupistry::stop_timeout)

  # The other mode's unit goes, so switching modes leaves nothing behind.
  ['pupistry.service', 'pupistry.timer'].each |$name| {
    $ensure = $units[$name] ? {
      undef   => absent,
      default => file,
    }
    file { "${pupistry::unit_dir}/${name}":
      ensure  => $ensure,
      content => $units[$name],
      owner   => 'root',
      group   => 'root',
      mode    => '0644',
    }
  }

  if $pupistry::manage_service {
    case $pupistry::run_mode {
      'daemon': {
        # Stopped before its unit goes, when switching from the timer.
        service { 'pupistry.timer':
          ensure => stopped,
          enable => false,
          before => File[$timer_file],
        }
        service { 'pupistry.service':
          ensure    => running,
          enable    => true,
          subscribe => File[$service_file],
        }
        # New settings reach a running daemon by SIGHUP (the unit's ExecReload): it
        # re-reads them between runs, and a running Puppet is not interrupted. A stopped
        # daemon is left to the service above, which starts it with the new settings.
        # Trusted keys need no signal: they are read at each verification.
        exec { 'pupistry: reload settings':
          command     => ['systemctl', 'reload', 'pupistry.service'],
          onlyif      => ['systemctl', 'is-active', '--quiet', 'pupistry.service'],
          path        => ['/usr/bin', '/bin'],
          refreshonly => true,
          subscribe   => File[$pupistry::config_file],
          before      => Service['pupistry.service'],
        }
      }
      'timer': {
        # A running daemon stops before its unit becomes the timer's oneshot; a run the timer started is left alone.
        service { 'pupistry.service':
          ensure => stopped,
          enable => false,
          before => File[$service_file],
        }
        service { 'pupistry.timer':
          ensure    => running,
          enable    => true,
          subscribe => File[$service_file, $timer_file],
        }
      }
      default: {
        service { ['pupistry.service', 'pupistry.timer']:
          ensure => stopped,
          enable => false,
          before => File[$service_file, $timer_file],
        }
      }
    }
  }

  if $pupistry::manage_puppet_agent {
    service { 'puppet':
      ensure => stopped,
      enable => false,
    }
  }
}
