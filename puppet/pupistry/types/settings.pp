# @summary Settings sections as in settings.yaml: section name → key → value.
type Pupistry::Settings = Hash[Enum['general', 'agent'], Hash[String[1], Data]]
