# @summary A file name in the trusted keys directory: no path, not hidden (pupistry skips hidden files).
type Pupistry::KeyFileName = Pattern[/\A[A-Za-z0-9_][A-Za-z0-9_.-]*\z/]
