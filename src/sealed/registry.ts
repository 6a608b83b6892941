import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {parse} from '../vendor/yaml.js'
import * as v from 'valibot'

import {HieraSelectionError} from '../errors.js'
import {byteOrder} from '../artifact/tree.js'
import {MEMBER_NAME} from '../format/member-name.js'
import {isMap} from './hiera-config.js'

/** Where the node registry lives in the control repo (the Ruby tool's directory name). */
export const REGISTRY_DIR = 'hieracrypt'
export const NODES_DIR = `${REGISTRY_DIR}/nodes`
export const GROUPS_DIR = `${REGISTRY_DIR}/groups`

export {MEMBER_NAME} from '../format/member-name.js'

const armouredPublicKey = v.pipe(
  v.string(),
  v.regex(
    /^-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]+-----END PGP PUBLIC KEY BLOCK-----\s*$/,
    'expected an armoured OpenPGP public key',
  ),
)
const names = v.array(v.pipe(v.string(), v.regex(MEMBER_NAME, 'expected a plain name')))

const entrySchema = v.strictObject({
  certname: v.optional(v.string()),
  environments: v.optional(names),
  facts: v.optional(v.custom<Record<string, unknown>>(isMap, 'expected a mapping of facts'), {}),
  groups: v.optional(names),
  key: armouredPublicKey,
  next_key: v.optional(armouredPublicKey),
  revoked: v.optional(v.boolean(), false),
  trusted: v.optional(v.custom<Record<string, unknown>>(isMap, 'expected a mapping'), {}),
})

/** A reader of the sealed data: one node, or a group whose nodes share a key. */
export interface Member {
  kind: 'node' | 'group'
  name: string
  /** Armoured public keys to encrypt to: the current one, and the next one during a rotation. */
  keys: string[]
  facts: Record<string, unknown>
  trusted: Record<string, unknown>
  /** Environments this member reads; undefined: all. */
  environments?: string[]
  revoked: boolean
}

export interface Registry {
  members: Member[]
}

/**
 * Reads `hieracrypt/nodes/<certname>.yaml` and `hieracrypt/groups/<name>.yaml`
 * from an environment tree. Adding a file is the authorisation, so a file
 * that is not exactly right stops the build rather than being skipped.
 */
export function readRegistry(root: string): Registry {
  const members = [...readMembers(root, 'node'), ...readMembers(root, 'group')]
  return {members}
}

function readMembers(root: string, kind: Member['kind']): Member[] {
  const dir = path.join(root, kind === 'node' ? NODES_DIR : GROUPS_DIR)
  let files: string[]
  try {
    files = readdirSync(dir).sort(byteOrder)
  } catch {
    return []
  }

  const members: Member[] = []
  for (const file of files) {
    if (file.startsWith('.')) continue
    const where = `${kind === 'node' ? NODES_DIR : GROUPS_DIR}/${file}`
    const text = readFileSync(path.join(dir, file), 'utf8')
    members.push(parseMember(text, file, kind, where))
  }

  return members
}

export function parseMember(text: string, file: string, kind: Member['kind'], where: string): Member {
  let data: unknown
  try {
    data = parse(text)
  } catch {
    data = undefined
  }

  const ruby = rubyEra(file, text, data)
  if (ruby) {
    throw new HieraSelectionError(`${where}: a registry entry of the Ruby pupistry (${ruby}); it cannot be used`, {
      hint:
        'run `pupistry node init` on that node as root: it makes an OpenPGP key and prints the new ' +
        `${NODES_DIR}/<certname>.yaml; copy the facts of this file into its facts: section, then remove this file`,
    })
  }

  const name = file.replace(/\.yaml$/, '')
  if (!file.endsWith('.yaml') || !MEMBER_NAME.test(name))
    throw new HieraSelectionError(`${where}: registry files are named <certname>.yaml, in lower case`)
  const result = v.safeParse(entrySchema, data)
  if (!result.success) {
    const issue = result.issues[0]
    const at = (issue.path ?? []).map((item) => String(item.key)).join('.') || 'entry'
    throw new HieraSelectionError(`${where}: ${at}: ${issue.message}`)
  }

  const entry = result.output
  if (entry.certname !== undefined && entry.certname !== name)
    throw new HieraSelectionError(`${where}: certname ${entry.certname} does not match the file name`)
  return {
    environments: entry.environments,
    facts: entry.facts,
    keys: entry.next_key ? [entry.key, entry.next_key] : [entry.key],
    kind,
    name,
    revoked: entry.revoked,
    // A node's certname is its file name, whatever else the entry says; a group has none.
    trusted: kind === 'node' ? {...entry.trusted, certname: name} : entry.trusted,
  }
}

/** Why a file looks like the Ruby tool's registry (a certificate and facts), or undefined. */
function rubyEra(file: string, text: string, data: unknown): string | undefined {
  if (text.includes('-----BEGIN CERTIFICATE-----')) return 'it holds an X.509 certificate'
  if (isMap(data) && Object.keys(data).some((key) => key.startsWith(':')))
    return 'it uses Ruby symbol keys such as :facts'
  if (!file.includes('.') && isMap(data) && !('key' in data)) return 'a file named after the host, without .yaml'
  return undefined
}
