import {randomBytes} from 'node:crypto'
import {chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {gunzipSync} from 'node:zlib'

import {stringify} from 'yaml'

import {type CliResult, runCli} from './cli.js'
import {World} from './world.js'

/** The fixture's readers: two nodes with their own data file, two without, by role. */
export const NODES = {
  'a.example': {role: 'web'},
  'b.example': {role: 'db'},
  'd.example': {role: 'web'},
  'e.example': {role: 'web'},
} as const

export type NodeName = keyof typeof NODES

/** Every data file of the fixture, with its keys: each holds a unique canary string. */
export function dataFiles(target: string, canaries: Record<string, string>): Record<string, Record<string, string>> {
  return {
    'data/common.yaml': {
      canary_common: canaries['data/common.yaml'],
      common_value: 'common',
      'greeting::greeting': 'sealed says hi',
      'greeting::target': target,
      'hello::target': target,
    },
    'data/nodes/a.example.yaml': {canary_a: canaries['data/nodes/a.example.yaml'], node_value: 'node a'},
    'data/nodes/b.example.yaml': {canary_b: canaries['data/nodes/b.example.yaml'], node_value: 'node b'},
    'data/role/db.yaml': {canary_db: canaries['data/role/db.yaml'], role_value: 'role db'},
    'data/role/web.yaml': {
      canary_web: canaries['data/role/web.yaml'],
      common_value: 'web overrides',
      role_value: 'role web',
    },
  }
}

export const HIERA_YAML = `---
version: 5
defaults:
  datadir: data
  data_hash: yaml_data
hierarchy:
  - name: per node
    path: nodes/%{trusted.certname}.yaml
  - name: role
    path: role/%{facts.role}.yaml
  - name: common
    path: common.yaml
`

/** Keys every node looks up: the equivalence check compares all of them. */
export const LOOKUP_KEYS = [
  'canary_a',
  'canary_b',
  'canary_common',
  'canary_db',
  'canary_web',
  'common_value',
  'node_value',
  'role_value',
]

const SITE_PP = `node default {
  include profile::base
  $values = ['node_value', 'role_value', 'common_value'].map |$k| { "\${k}=\${lookup($k, String, 'first', 'none')}" }
  file { "\${hello::target}/sealed-\${trusted['certname']}.txt":
    ensure  => file,
    content => "\${join($values, ',')}\\n",
  }
}
`

/** One simulated node: its own settings, key, Puppet code, releases and sealed_dir on the same store. */
export interface SealedNode {
  name: string
  dir: string
  settingsFile: string
  settings: Record<string, Record<string, unknown>>
  sealedDir: string
  puppetcode: string
  env: NodeJS.ProcessEnv
}

/**
 * A world whose production branch uses the hierarchy, with a
 * canary in every data file, and nodes registered with `node init`.
 */
export class SealedWorld {
  readonly canaries: Record<string, string>
  readonly nodes = new Map<string, SealedNode>()

  private constructor(readonly world: World) {
    const files = Object.keys(dataFiles('', {}))
    this.canaries = Object.fromEntries(files.map((file) => [file, `CANARY-${randomBytes(8).toString('hex')}`]))
  }

  static async create(options: {macKey?: boolean} = {}): Promise<SealedWorld> {
    const world = await World.create({build: {hieracrypt: true}})
    const sealed = new SealedWorld(world)
    if (options.macKey !== false) {
      const made = await world.cli('keys', 'generate', '--mac-key', '--dir', world.keys)
      if (made.code !== 0) throw new Error(made.stderr)
      world.settings.build.hieracrypt_mac_key_file = path.join(world.keys, 'hieracrypt-mac.key')
      world.writeSettings()
    }

    await world.commitToControl('production', (dir) => {
      writeFileSync(path.join(dir, 'hiera.yaml'), HIERA_YAML)
      writeFileSync(path.join(dir, 'manifests', 'site.pp'), SITE_PP)
      for (const [file, values] of Object.entries(dataFiles(world.target, sealed.canaries))) {
        mkdirSync(path.dirname(path.join(dir, file)), {recursive: true})
        writeFileSync(path.join(dir, file), stringify(values))
      }
    })
    return sealed
  }

  /** A node with its own settings; its sealed_dir is on /dev/shm (a tmpfs here). */
  addNode(name: string, facts: Record<string, string>, agent: Record<string, unknown> = {}): SealedNode {
    const dir = path.join(this.world.dir, 'nodes', name)
    mkdirSync(dir, {recursive: true})
    const sealedDir = mkdtempSync('/dev/shm/pupistry-sealed-test-')
    const puppet = path.join(dir, 'puppet')
    writeFileSync(puppet, `#!/bin/sh\nexec puppet "$@" --certname ${name}\n`)
    chmodSync(puppet, 0o755)
    const puppetcode = path.join(dir, 'code', 'environments')
    const settings = {
      agent: {
        node_key_file: path.join(dir, 'etc', 'node', 'node.secret.asc'),
        puppet,
        puppetcode,
        sealed_dir: sealedDir,
        ...agent,
      },
      general: {
        app_cache: path.join(dir, 'cache'),
        storage: this.world.settings.general.storage,
        trusted_keys: this.world.settings.general.trusted_keys,
      },
    }
    const node: SealedNode = {
      dir,
      env: Object.fromEntries(Object.entries(facts).map(([fact, value]) => [`FACTER_${fact}`, value])),
      name,
      puppetcode,
      sealedDir,
      settings,
      settingsFile: path.join(dir, 'settings.yaml'),
    }
    this.writeNodeSettings(node)
    this.nodes.set(name, node)
    return node
  }

  writeNodeSettings(node: SealedNode): void {
    writeFileSync(node.settingsFile, stringify(node.settings))
    chmodSync(node.settingsFile, 0o600)
  }

  /** Runs pupistry as the node, with its facts in the environment as facter reads them. */
  nodeCli(node: SealedNode, ...args: string[]): Promise<CliResult> {
    return runCli([...args, '--config', node.settingsFile], {cwd: node.dir, env: node.env})
  }

  /** `node init` on each node, and their registry files committed to the control repo. */
  async register(nodes: SealedNode[]): Promise<Record<string, string>> {
    const files: Record<string, string> = {}
    for (const node of nodes) {
      const result = await this.nodeCli(node, 'node', 'init', '--certname', node.name, '--fact', 'role')
      if (result.code !== 0) throw new Error(`node init failed: ${result.stderr}`)
      files[node.name] = result.stdout
    }

    await this.commitRegistry(files)
    return files
  }

  async commitRegistry(files: Record<string, string | undefined>): Promise<void> {
    await this.world.commitToControl('production', (dir) => {
      mkdirSync(path.join(dir, 'hieracrypt', 'nodes'), {recursive: true})
      for (const [name, text] of Object.entries(files)) {
        const file = path.join(dir, 'hieracrypt', 'nodes', `${name}.yaml`)
        if (text === undefined) rmSync(file, {force: true})
        else writeFileSync(file, text)
      }
    })
  }

  /** Every object of the store: its key and its bytes (artifacts un-gzipped, so their content is searched). */
  storeObjects(): Array<{key: string; bytes: Buffer}> {
    const found: Array<{key: string; bytes: Buffer}> = []
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const full = path.join(dir, name)
        if (statSync(full).isDirectory()) walk(full)
        else {
          const raw = readFileSync(full)
          found.push({bytes: name.endsWith('.gz') ? gunzipSync(raw) : raw, key: path.relative(this.world.store, full)})
        }
      }
    }

    walk(this.world.store)
    return found
  }

  cleanup(): void {
    for (const node of this.nodes.values()) rmSync(node.sealedDir, {force: true, recursive: true})
    this.world.cleanup()
  }
}
