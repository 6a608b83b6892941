# @summary How pupistry gets installed: not by this module (bootstrap did it), or from an npm registry.
type Pupistry::InstallMethod = Enum['none', 'npm']
