# @summary An absolute path written into a systemd unit. Only characters that
#   neither systemd (`%` specifiers, quoting, spaces) nor a shell would read
#   specially, so the unit holds the path exactly as given.
type Pupistry::UnitPath = Pattern[/\A(\/[A-Za-z0-9_.+=:,@-]+)+\z/]
