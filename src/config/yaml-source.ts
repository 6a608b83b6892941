import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type YAMLMap,
  visit,
} from '../vendor/yaml.js'

/** A problem found in a YAML text, at 1-based line and column. */
export interface SourceProblem {
  line: number
  column: number
  message: string
}

/**
 * A parsed YAML text that still knows where each node came from, so a
 * message can point at the line and column a user edits, including values
 * that reach a section through a merge key (`<<: *defaults`).
 */
export class YamlSource {
  readonly errors: SourceProblem[]
  private readonly document: Document.Parsed
  private readonly lines = new LineCounter()

  constructor(readonly text: string) {
    // Merge keys are YAML 1.1, but settings files written for the Ruby tool (Psych) use them.
    this.document = parseDocument(text, {lineCounter: this.lines, merge: true, prettyErrors: false})
    this.errors = this.document.errors.map((error) => ({
      ...this.position(this.openerOf(error.pos[0]) ?? error.pos[0]),
      message: error.message,
    }))
  }

  /** True when the text holds no document at all (empty, or only comments). */
  get empty(): boolean {
    return this.document.contents === null
  }

  toJS(): unknown {
    return this.document.toJS({maxAliasCount: 100})
  }

  /** Where a key (or, with `value`, its value) of a path of mapping keys is written; the nearest enclosing node otherwise. */
  positionOf(keyPath: string[], what: 'key' | 'value' = 'value'): {line: number; column: number} {
    let node: Node | null = this.document.contents
    let at = node?.range?.[0] ?? 0
    for (const [index, key] of keyPath.entries()) {
      const pair = isMap(node) ? this.pairOf(node, key) : undefined
      if (!pair) break
      const last = index === keyPath.length - 1
      const keyNode = pair.key as Node | null
      node = this.resolve(pair.value as Node | null)
      const target = last && what === 'key' ? keyNode : (node ?? keyNode)
      at = target?.range?.[0] ?? at
    }

    return this.position(at)
  }

  /** The text a scalar was written as (`0x1234ABCD`, not the number YAML reads), if the path leads to one. */
  sourceOf(keyPath: string[]): string | undefined {
    let node: Node | null = this.document.contents
    for (const key of keyPath) {
      const pair = isMap(node) ? this.pairOf(node, key) : undefined
      node = this.resolve((pair?.value as Node | null) ?? null)
    }

    if (!isScalar(node) || !node.range) return undefined
    return this.text.slice(node.range[0], node.range[1])
  }

  /** The pair for a key in a map, looking into merged maps (`<<`) after the map's own keys, as YAML does. */
  private pairOf(map: YAMLMap, key: string): {key: unknown; value: unknown} | undefined {
    const own = map.items.find((pair) => isScalar(pair.key) && String(pair.key.value) === key && !isMerge(pair.key))
    if (own) return own
    for (const pair of map.items) {
      if (!isMerge(pair.key)) continue
      const sources = isSeq(pair.value) ? pair.value.items : [pair.value]
      for (const source of sources) {
        const merged = this.resolve(source as Node | null)
        const found = isMap(merged) ? this.pairOf(merged, key) : undefined
        if (found) return found
      }
    }

    return undefined
  }

  /**
   * An unclosed quote or bracket is only noticed where the text ends, lines
   * after the mistake; the quote or bracket that was never closed is what a
   * user has to find, so that is where the error points.
   */
  private openerOf(offset: number): number | undefined {
    let opener: number | undefined
    visit(this.document, (_key, node) => {
      const unclosed = (isScalar(node) && node.type?.startsWith('QUOTE')) || (isCollection(node) && node.flow)
      if (unclosed && node.range?.[2] === offset && (opener === undefined || node.range[0] > opener))
        opener = node.range[0]
    })
    return opener
  }

  private resolve(node: Node | null): Node | null {
    return isAlias(node) ? (node.resolve(this.document) ?? node) : node
  }

  private position(offset: number): {line: number; column: number} {
    const {col, line} = this.lines.linePos(offset)
    return {column: col, line}
  }
}

/** With merge keys enabled the parser reads `<<` as a symbol, the only symbol it makes. */
function isMerge(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol'
}
