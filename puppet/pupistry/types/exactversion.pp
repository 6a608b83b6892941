# @summary An exact semantic version. Ranges, tags and `latest` are refused, so a fleet never drifts.
type Pupistry::ExactVersion = Pattern[/\A(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?\z/]
