import type {EnvironmentPlan} from '../sealed/plan.js'

/** Per environment: the protected files, then which member reads which, grouped by shared bundle. */
export function formatPlan(plans: EnvironmentPlan[]): string {
  const lines: string[] = []
  for (const plan of plans) {
    lines.push(
      `${plan.environment}: ${plan.protected.length} protected files, ${plan.members.length} readers, ` +
        `${plan.bundles.length} bundles`,
    )
    plan.bundles.forEach((bundle, index) => {
      lines.push(`  bundle ${index + 1}: ${bundle.members.join(', ')}`)
      for (const file of bundle.files) lines.push(`    ${file}`)
      if (bundle.files.length === 0) lines.push('    (no protected files)')
    })
    const unread = plan.protected.filter((file) => !plan.bundles.some((bundle) => bundle.files.includes(file)))
    if (unread.length > 0) lines.push(`  read by no one: ${unread.join(', ')}`)
  }

  return lines.join('\n')
}
