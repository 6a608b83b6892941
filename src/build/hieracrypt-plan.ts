import {assembleEnvironments} from './build.js'
import type {Runtime} from '../runtime.js'
import {describePlan, type EnvironmentPlan, planEnvironment, publicGlobs} from '../sealed/plan.js'

/** `pupistry hieracrypt plan`: assembles the control repo and plans each environment, encrypting nothing. */
export async function planSealed(runtime: Runtime, options: {environments?: string[]}): Promise<EnvironmentPlan[]> {
  const environments = await assembleEnvironments(runtime, options.environments)
  const globs = publicGlobs(runtime.settings.build.hieracrypt_public)
  return environments.map((environment) => describePlan(planEnvironment(environment.path, environment.name, globs)))
}
