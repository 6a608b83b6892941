# @summary The systemd units that run pupistry in a run mode, unit name → text.
#
# The texts are those `pupistry bootstrap` writes for the same choices
# (templates/partials/systemd.sh.hbs in pupistry), byte for byte: a node
# bootstrapped first and managed by this class later sees no change.
#
# @param run_mode `daemon`, `timer`, or `none` (no units).
# @param bin The pupistry command.
# @param config_file The settings file the units pass with `--config`.
# @param log_format `json` adds `--log-format json` to the command.
# @param interval The timer's seconds between runs (300 when unset, as bootstrap).
# @param stop_timeout agent.stop_timeout in seconds (60 when unset, as pupistry).
# @return [Hash[String, String]] The units to write; those of the other mode must go.
function pupistry::units(
  Pupistry::RunMode $run_mode,
  Pupistry::UnitPath $bin,
  Pupistry::UnitPath $config_file,
  Pupistry::LogFormat $log_format = 'human',
  Optional[Integer[1]] $interval = undef,
  Optional[Integer[0]] $stop_timeout = undef,
) >> Hash[Enum['pupistry.service', 'pupistry.timer'], String] {
  $log_arguments = $log_format ? {
    'json'  => ' --log-format json',
    default => '',
  }
  $stop_seconds = $stop_timeout.lest || { 60 }
  case $run_mode {
    'daemon': {
      {
        'pupistry.service' => epp('pupistry/daemon.service.epp', {
            bin                  => $bin,
            config_file          => $config_file,
            stop_timeout         => $stop_seconds,
            # As bootstrap: beyond stop_timeout, Puppet's 10 s kill grace and 30 s of margin.
            service_stop_seconds => $stop_seconds + 40,
            log_arguments        => $log_arguments,
        }),
      }
    }
    'timer': {
      {
        'pupistry.service' => epp('pupistry/oneshot.service.epp', {
            bin           => $bin,
            config_file   => $config_file,
            log_arguments => $log_arguments,
        }),
        'pupistry.timer'   => epp('pupistry/pupistry.timer.epp', { interval => $interval.lest || { 300 } }),
      }
    }
    default: { {} }
  }
}
