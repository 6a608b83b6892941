# @summary An environment name as pupistry accepts it (agent.environment).
type Pupistry::Environment = Pattern[/\A[A-Za-z0-9_]{1,100}\z/]
