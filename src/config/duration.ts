const UNIT_SECONDS = {'': 1, d: 86_400, h: 3600, m: 60, s: 1, w: 604_800} as const

/**
 * Seconds from a duration as settings and flags take it: a whole number of
 * seconds, or one with a unit (`90s`, `30m`, `12h`, `7d`, `2w`). Undefined
 * when the text is not one, so each caller reports it its own way.
 */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  const match = /^(\d+)\s*([smhdw]?)$/.exec(value.trim())
  if (!match) return undefined
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS]
}
