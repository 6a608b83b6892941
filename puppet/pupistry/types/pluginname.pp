# @summary An npm package name of a pupistry plugin, optionally scoped (`@pupistry/librarian`).
type Pupistry::PluginName = Pattern[/\A(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*\z/]
