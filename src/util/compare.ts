/**
 * Orders strings by UTF-16 code unit, as `Array.prototype.sort` does, for a
 * comparator chain. Unlike `localeCompare` it needs no ICU collator, whose
 * first use costs several milliseconds: too much on a node's update check.
 */
export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
