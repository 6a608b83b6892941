# @summary How pupistry runs: a long-running daemon, a systemd timer, or not at all.
type Pupistry::RunMode = Enum['daemon', 'timer', 'none']
