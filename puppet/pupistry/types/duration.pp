# @summary A duration as pupistry's settings take it: whole seconds, or `<n>[s|m|h|d|w]` such as `30m`.
type Pupistry::Duration = Variant[Integer[0], Pattern[/\A(0|[1-9][0-9]*) ?[smhdw]?\z/]]
