/** What a node's Hiera interpolation can see: its registered facts, trusted data and environment. */
export interface NodeScope {
  facts: Record<string, unknown>
  trusted: Record<string, unknown>
  environment: string
  /** Extra variables (the key of a mapped_paths level). */
  variables?: Record<string, unknown>
}

/** Why a template cannot be expanded for a node; the caller names the node and level. */
export class InterpolationProblem extends Error {}

const EXPRESSION = /%\{([^}]*)\}/g
const FUNCTION_CALL = /^(\w+)\(\s*(?:'([^']*)'|"([^"]*)")\s*\)$/

/**
 * Expands Hiera's `%{...}` interpolation the way Hiera 5 does for paths:
 * `facts.x.y`, `trusted.certname`, `environment`, top-scope `::x` (a legacy
 * fact), quoted key segments, and `literal('...')`. Anything the builder
 * cannot know (server_facts, lookup(), scope()) is a problem, never an empty
 * string: an empty segment would silently select another file.
 */
export function interpolate(template: string, scope: NodeScope): string {
  return template.replace(EXPRESSION, (_match, body: string) => resolveExpression(body.trim(), scope))
}

function resolveExpression(body: string, scope: NodeScope): string {
  // Hiera reads `%{}` as an empty string, by design (a way to write a literal `%{` next to it).
  if (body === '') return ''
  const call = FUNCTION_CALL.exec(body)
  if (call) {
    if (call[1] === 'literal') return call[2] ?? call[3]
    throw new InterpolationProblem(`%{${body}}: interpolation function ${call[1]}() cannot be resolved at build time`)
  }

  const segments = splitSegments(body.startsWith('::') ? body.slice(2) : body)
  if (!segments) throw new InterpolationProblem(`%{${body}}: not an interpolation Hiera understands`)
  const value = dig(rootsOf(scope), segments)
  if (value === undefined || value === null)
    throw new InterpolationProblem(`%{${body}}: no such value in the registered facts`)
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  throw new InterpolationProblem(`%{${body}}: is a ${Array.isArray(value) ? 'list' : 'hash'}, not a single value`)
}

function rootsOf(scope: NodeScope): Record<string, unknown> {
  // Top-scope variables are facts (legacy `%{::role}`), under the named roots and mapped_paths' key.
  return {
    ...scope.facts,
    ...scope.variables,
    environment: scope.environment,
    facts: scope.facts,
    trusted: scope.trusted,
  }
}

/** `a.b."c.d".e` → [a, b, c.d, e]; undefined when malformed. */
export function splitSegments(text: string): string[] | undefined {
  const segments: string[] = []
  let rest = text
  while (rest.length > 0) {
    const quoted = /^(?:"([^"]*)"|'([^']*)')/.exec(rest)
    let segment: string
    if (quoted) {
      segment = quoted[1] ?? quoted[2]
      rest = rest.slice(quoted[0].length)
    } else {
      const plain = /^[\w-]+/.exec(rest)
      if (!plain) return undefined
      segment = plain[0]
      rest = rest.slice(segment.length)
    }

    segments.push(segment)
    if (rest === '') break
    if (!rest.startsWith('.')) return undefined
    rest = rest.slice(1)
    if (rest === '') return undefined
  }

  return segments.length > 0 ? segments : undefined
}

function dig(value: unknown, segments: string[]): unknown {
  let current = value
  for (const segment of segments) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) current = current[Number(segment)]
    else if (typeof current === 'object' && current !== null && Object.hasOwn(current, segment))
      current = (current as Record<string, unknown>)[segment]
    else return undefined
  }

  return current
}

/** The value a mapped_paths level iterates over: a list or hash in the node's scope. */
export function lookupVariable(name: string, scope: NodeScope): unknown {
  const segments = splitSegments(name.startsWith('::') ? name.slice(2) : name)
  return segments ? dig(rootsOf(scope), segments) : undefined
}
