/**
 * Reads the declarative subset of the Puppetfile language that real control
 * repos use, without evaluating Ruby. r10k evaluates a Puppetfile as Ruby; a
 * file that needs that (conditionals, variables, interpolation, methods) is
 * refused with its line, so the operator knows to keep the r10k assembler.
 */
import path from 'node:path'

import {failure} from './failure.js'

export interface GitModule {
  kind: 'git'
  name: string
  line: number
  remote: string
  /** The ref to deploy; `control_branch` follows the environment's own branch. */
  ref: string | {controlBranch: true}
  defaultBranch?: string
  installPath?: string
}

export interface ForgeModule {
  kind: 'forge'
  name: string
  line: number
  /** `author-name`, as the Forge API spells a module. */
  slug: string
  version: string | 'latest'
  installPath?: string
}

export interface LocalModule {
  kind: 'local'
  name: string
  line: number
  installPath?: string
}

export type ModuleSpec = ForgeModule | GitModule | LocalModule

export interface Puppetfile {
  /** Where modules go unless they say otherwise: '/'-separated, inside the environment ('' for its root). */
  moduledir: string
  modules: ModuleSpec[]
}

type Value = boolean | string | {symbol: string}

type Token =
  | {type: 'string'; value: string; line: number}
  | {type: 'symbol'; value: string; line: number}
  | {type: 'label'; value: string; line: number}
  | {type: 'word'; value: string; line: number}
  | {type: ',' | '=>' | '(' | ')' | 'end' | 'newline'; line: number}
  /** Something outside the subset, reported when the parser reaches it (so the first problem in the file is the one named). */
  | {type: 'ruby'; value: string; line: number}

const GIT_KEYS = new Set(['branch', 'commit', 'default_branch', 'git', 'install_path', 'ref', 'tag'])
const LOCAL_KEYS = new Set(['install_path', 'local'])
const REF_KEYS = ['ref', 'tag', 'branch', 'commit']
/** SemVer as Puppet's semantic_puppet accepts it: what r10k checks a Forge version against. */
const FORGE_VERSION =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/

/**
 * Parses a Puppetfile. `where` names it in messages ("Puppetfile of branch
 * production"). Throws an `assembler` failure naming the line for Ruby code,
 * bad arguments and duplicate modules.
 */
export function parsePuppetfile(text: string, where: string): Puppetfile {
  const refuse = (line: number, why: string): never => {
    throw failure('assembler', `${where}, line ${line}: ${why}`)
  }

  const rubyCode = (line: number, what: string): never =>
    refuse(
      line,
      `${what} is Ruby code outside the declarative Puppetfile subset the native assembler reads (mod, ` +
        `forge, moduledir); build this control repo with the r10k assembler (build.assembler: r10k)`,
    )

  const tokens = tokenize(text)
  const result: Puppetfile = {moduledir: 'modules', modules: []}
  let at = 0
  const peek = () => tokens[at]
  const next = () => tokens[at++]

  while (peek().type !== 'end') {
    const head = next()
    if (head.type === 'newline') continue
    if (head.type !== 'word' || !['forge', 'mod', 'moduledir'].includes(head.value)) {
      rubyCode(head.line, describe(head))
    }

    const statement = (head as {value: string}).value
    const args = readArguments()
    if (statement === 'mod') result.modules.push(moduleOf(head.line, args))
    else if (args.positional.length !== 1 || typeof args.positional[0] !== 'string' || args.named.size > 0) {
      refuse(head.line, `${statement} takes one string argument`)
    } else if (statement === 'moduledir') {
      result.moduledir = inside(head.line, args.positional[0] as string)
    }
    // `forge 'URL'` is read but not followed, as r10k does by default: the Forge is a setting (build.forge.baseurl).
  }

  const seen = new Map<string, number>()
  const duplicates = new Set<string>()
  for (const module of result.modules) {
    if (seen.has(module.name)) duplicates.add(module.name)
    seen.set(module.name, module.line)
  }

  if (duplicates.size > 0) {
    throw failure(
      'assembler',
      `${where}: Puppetfiles cannot contain duplicate module names. Remove the duplicates of the ` +
        `following modules: ${[...duplicates].join(' ')}`,
    )
  }

  return result

  /** Positional arguments, then `:key => value` or `key: value` pairs, up to the end of the statement. */
  function readArguments(): {positional: Value[]; named: Map<string, Value>} {
    const positional: Value[] = []
    const named = new Map<string, Value>()
    const parens = peek().type === '('
    if (parens) next()
    let expectValue = true
    for (;;) {
      const token = peek()
      if (token.type === 'end' || (!parens && isNewline(token))) {
        if (expectValue && (positional.length > 0 || named.size > 0))
          refuse(token.line, 'the statement ends after a comma')
        if (parens) refuse(token.line, 'a parenthesis is not closed')
        return {named, positional}
      }

      next()
      if (isNewline(token)) continue
      if (parens && token.type === ')') return {named, positional}
      if (!expectValue) {
        if (token.type !== ',') rubyCode(token.line, describe(token))
        expectValue = true
        skipNewlines()
        continue
      }

      if (token.type === 'label' || (token.type === 'symbol' && peek().type === '=>')) {
        if (token.type === 'symbol') next()
        skipNewlines()
        const key = token.value
        if (named.has(key)) refuse(token.line, `the option :${key} is given twice`)
        named.set(key, readValue())
      } else if (named.size > 0) {
        refuse(token.line, 'a positional argument follows the options')
      } else {
        at--
        positional.push(readValue())
      }

      expectValue = false
    }
  }

  function readValue(): Value {
    const token = next()
    if (token.type === 'string') return token.value
    if (token.type === 'symbol') return {symbol: token.value}
    if (token.type === 'word' && (token.value === 'true' || token.value === 'false')) return token.value === 'true'
    return rubyCode(token.line, describe(token))
  }

  function skipNewlines(): void {
    while (isNewline(peek())) next()
  }

  function moduleOf(line: number, {named, positional}: {positional: Value[]; named: Map<string, Value>}): ModuleSpec {
    const [title, version, ...rest] = positional
    if (typeof title !== 'string') return refuse(line, 'mod needs the module name as a string first')
    if (rest.length > 0 || (version !== undefined && named.size > 0))
      return refuse(line, `mod '${title}' has too many arguments`)
    if (named.size === 0) return forgeModule(line, title, version)
    const given = optionalString(named.get('install_path'), 'install_path')
    const installPath = given === undefined ? undefined : inside(line, given)
    if (named.has('git')) {
      for (const key of named.keys()) if (!GIT_KEYS.has(key)) unsupportedOption(line, title, key)
      const remote = named.get('git')
      if (typeof remote !== 'string' || remote === '') return refuse(line, `mod '${title}': :git must be a URL string`)
      const refKeys = REF_KEYS.filter((key) => named.has(key))
      if (refKeys.length > 1) return refuse(line, `mod '${title}': give only one of :${refKeys.join(', :')}`)
      const refValue = refKeys.length === 1 ? named.get(refKeys[0]) : 'master'
      let ref: GitModule['ref']
      if (typeof refValue === 'string' && refValue !== '') ref = refValue
      else if (
        typeof refValue === 'object' &&
        refValue.symbol === 'control_branch' &&
        refKeys[0] !== 'tag' &&
        refKeys[0] !== 'commit'
      )
        ref = {controlBranch: true}
      else
        return refuse(
          line,
          `mod '${title}': :${refKeys[0]} must be a string${refKeys[0] === 'branch' || refKeys[0] === 'ref' ? ' or :control_branch' : ''}`,
        )
      const spec: GitModule = {kind: 'git', line, name: gitModuleName(line, title), ref, remote}
      const defaultBranch = optionalString(named.get('default_branch'), 'default_branch')
      if (defaultBranch !== undefined) spec.defaultBranch = defaultBranch
      if (installPath !== undefined) spec.installPath = installPath
      return spec
    }

    if (named.has('local')) {
      for (const key of named.keys()) if (!LOCAL_KEYS.has(key)) unsupportedOption(line, title, key)
      if (named.get('local') !== true) return refuse(line, `mod '${title}': :local must be true`)
      const local: LocalModule = {kind: 'local', line, name: gitModuleName(line, title)}
      if (installPath !== undefined) local.installPath = installPath
      return local
    }

    for (const key of named.keys()) if (!GIT_KEYS.has(key) && !LOCAL_KEYS.has(key)) unsupportedOption(line, title, key)
    return refuse(
      line,
      `Module ${title} with these options has no implementation: it needs :git or :local (are you using the right arguments?)`,
    )

    function optionalString(value: Value | undefined, key: string): string | undefined {
      if (value === undefined) return undefined
      if (typeof value !== 'string') return refuse(line, `mod '${title}': :${key} must be a string`)
      return value
    }
  }

  /** A Puppetfile path (moduledir, install_path) as a '/'-separated path inside the environment ('' for its root). */
  function inside(line: number, dir: string): string {
    const normal = path.posix.normalize(dir.replace(/\/+$/, '') || '.')
    if (path.posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../')) {
      return refuse(line, `Puppetfile cannot manage content outside of its environment: ${dir}`)
    }

    return normal === '.' ? '' : normal
  }

  function unsupportedOption(line: number, title: string, key: string): never {
    return refuse(
      line,
      `mod '${title}': the option :${key} is outside the subset the native assembler reads; build this ` +
        `control repo with the r10k assembler (build.assembler: r10k)`,
    )
  }

  /** r10k's rule: `name`, or `owner/name` / `owner-name`, word characters only. */
  function gitModuleName(line: number, title: string): string {
    const match = /^(?:\w+[-/])?(\w+)$/.exec(title)
    if (!match) return refuse(line, `Module name (${title}) must match either 'modulename' or 'owner/modulename'`)
    return match[1]
  }

  function forgeModule(line: number, title: string, version: Value | undefined): ForgeModule {
    const match = /^(\w+)[-/](\w+)$/.exec(title)
    if (!match) return refuse(line, `Forge module names must match 'owner/modulename', instead got ${title}`)
    let wanted: string
    if (version === undefined || (typeof version === 'object' && version.symbol === 'latest')) wanted = 'latest'
    else if (typeof version === 'string' && FORGE_VERSION.test(version)) wanted = version
    else
      return refuse(
        line,
        `Module version ${typeof version === 'string' ? version : describeValue(version)} is not a valid Forge module version`,
      )
    return {kind: 'forge', line, name: match[2], slug: `${match[1]}-${match[2]}`, version: wanted}
  }
}

function describeValue(value: Value): string {
  return typeof value === 'object' ? `:${value.symbol}` : String(value)
}

function describe(token: Token): string {
  if (token.type === 'ruby') return token.value
  if (token.type === 'word') return `"${token.value}"`
  if (token.type === 'string') return `'${token.value}'`
  if (token.type === 'symbol') return `:${token.value}`
  if (token.type === 'label') return `${token.value}:`
  return `"${token.type}"`
}

function isNewline(token: Token): boolean {
  return token.type === 'newline'
}

/**
 * Splits the text into tokens. Newlines are tokens (they end statements);
 * a backslash before a newline joins the lines, as in Ruby.
 */
function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  const rubyCode = (at: number, value: string): void => {
    tokens.push({line: at, type: 'ruby', value})
  }

  let line = 1
  let i = 0
  const push = (token: Token) => tokens.push(token)
  while (i < text.length) {
    const c = text[i]
    if (c === '\n') {
      push({line, type: 'newline'})
      line++
      i++
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++
    } else if (c === '\\' && (text[i + 1] === '\n' || (text[i + 1] === '\r' && text[i + 2] === '\n'))) {
      i += text[i + 1] === '\n' ? 2 : 3
      line++
    } else if (c === ';') {
      push({line, type: 'newline'})
      i++
    } else if (c === "'" || c === '"') {
      const start = line
      let value = ''
      i++
      for (;;) {
        if (i >= text.length) {
          rubyCode(start, 'an unterminated string')
          break
        }

        const d = text[i]
        if (d === c) break
        if (d === '\n') line++
        if (d === '\\') {
          const e = text[i + 1]
          if (c === "'") value += e === "'" || e === '\\' ? e : `\\${e}`
          else {
            const escaped = ({'"': '"', '\\': '\\', n: '\n', t: '\t'} as Record<string, string>)[e]
            if (escaped === undefined) rubyCode(line, `the escape \\${e}`)
            value += escaped ?? ''
          }

          i += 2
          continue
        }

        if (c === '"' && d === '#' && ['{', '$', '@'].includes(text[i + 1])) rubyCode(line, 'string interpolation')

        value += d
        i++
      }

      i++
      push({line: start, type: 'string', value})
    } else if (c === '=' && text[i + 1] === '>') {
      push({line, type: '=>'})
      i += 2
    } else if (c === ',' || c === '(' || c === ')') {
      push({line, type: c})
      i++
    } else if (c === ':' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      const word = /^[A-Za-z_]\w*/.exec(text.slice(i + 1))![0]
      push({line, type: 'symbol', value: word})
      i += word.length + 1
    } else if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_]\w*[?!]?/.exec(text.slice(i))![0]
      i += word.length
      if (text[i] === ':' && text[i + 1] !== ':') {
        push({line, type: 'label', value: word})
        i++
      } else {
        push({line, type: 'word', value: word})
      }
    } else {
      rubyCode(line, `"${c}"`)
      i++
    }
  }

  push({line, type: 'end'})
  return tokens
}
