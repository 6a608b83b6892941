# @summary The daemon's message format (`pupistry apply --log-format`).
type Pupistry::LogFormat = Enum['human', 'json']
