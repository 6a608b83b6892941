/**
 * Settings files are block-style YAML. To point an error at the line a user
 * edits, find a key path by indentation: the section at column 0, then the
 * key indented below it. Returns 1-based line numbers.
 */
export function lineOfKey(text: string, keyPath: string[]): number | undefined {
  const lines = text.split('\n')
  let from = 0
  let parentIndent = -1
  let found: number | undefined
  for (const key of keyPath) {
    const pattern = new RegExp(`^(\\s*)(["']?)${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\2\\s*:(\\s|$)`)
    let hit: number | undefined
    for (let index = from; index < lines.length; index++) {
      const line = lines[index]
      if (/^\s*(#|$)/.test(line)) continue
      const indent = line.length - line.trimStart().length
      if (index > from && indent <= parentIndent) break
      const match = pattern.exec(line)
      if (match && match[1].length > parentIndent) {
        hit = index
        parentIndent = match[1].length
        break
      }
    }

    if (hit === undefined) return found
    found = hit + 1
    from = hit + 1
  }

  return found
}

/** The scalar exactly as written after `key:` on that line (block style), without quotes or a comment. */
export function rawValueAt(text: string, line: number, key: string): string | undefined {
  const source = text.split('\n')[line - 1]
  const match = new RegExp(`^\\s*["']?${key}["']?\\s*:\\s*(.*?)\\s*(\\s#.*)?$`).exec(source ?? '')
  if (!match?.[1]) return undefined
  return match[1].replace(/^(["'])(.*)\1$/, '$2')
}
