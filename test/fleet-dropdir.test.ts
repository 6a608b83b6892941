import assert from 'node:assert/strict'
import {chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify} from 'yaml'

import {BIN, type CliResult, execute, run, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

/** Ids no account on these machines uses: two nodes, and the build side's user and the group that reads reports. */
const NODE_A = 64101
const NODE_B = 64102
const NODE_C = 64104
const BUILDER = 64103
const REPORT_READERS = 64100

/**
 * The directory store's drop directory for reports (docs/delivery.md), with
 * real separate users switched to through setpriv (the suite runs as root):
 * each node writes only its own report and can neither read, list nor
 * replace another's; the build side reads them all through its group.
 */
describe('report drop directory of a file store, used by separate users', () => {
  let world: World
  const reports = () => world.storePath('reports')
  const keysDir = () => path.join(world.dir, 'report-keys')

  const as = (uid: number, gid: number, groups: number[], command: string, args: string[]): Promise<CliResult> =>
    execute(
      'setpriv',
      [
        `--reuid=${uid}`,
        `--regid=${gid}`,
        ...(groups.length ? [`--groups=${groups.join(',')}`] : ['--clear-groups']),
        command,
        ...args,
      ],
      // No SHELL, as under a service manager: these users are in no password database.
      {cwd: '/', env: {HOME: path.join(world.dir, 'homes', String(uid)), NO_COLOR: '1', SHELL: undefined}},
    )
  const pupistryAs = (uid: number, gid: number, groups: number[], ...args: string[]) =>
    as(uid, gid, groups, process.execPath, [BIN, ...args])

  const fleetAsBuilder = (groups: number[]) =>
    pupistryAs(BUILDER, BUILDER, groups, 'fleet', '--json', '--config', world.settingsFile)

  /** A node of its own user: settings, state and Puppet code it owns, and a report key registered on the build side. */
  async function makeNode(id: string, uid: number) {
    const dir = path.join(world.dir, 'nodes', id)
    mkdirSync(dir, {recursive: true})
    const generated = await world.cli('keys', 'generate', '--dir', dir, '--name', 'report', '--user-id', `report ${id}`)
    assert.equal(generated.code, 0, show(generated))
    copyFileSync(path.join(dir, 'report.public.asc'), path.join(keysDir(), `${id}.asc`))
    const settings = path.join(dir, 'settings.yaml')
    const write = (agent: Record<string, unknown> = {}) =>
      writeFileSync(
        settings,
        stringify({
          agent: {
            puppet: '/bin/true',
            puppetcode: path.join(dir, 'code'),
            report_id: id,
            report_key: path.join(dir, 'report.secret.asc'),
            ...agent,
          },
          general: {
            app_cache: path.join(dir, 'cache'),
            storage: world.settings.general.storage,
            trusted_keys: world.settings.general.trusted_keys,
          },
        }),
      )
    write()
    mkdirSync(path.join(world.dir, 'homes', String(uid)), {recursive: true})
    await run('chown', ['-R', `${uid}:${uid}`, dir, path.join(world.dir, 'homes', String(uid))])
    const apply = (...args: string[]) => pupistryAs(uid, uid, [], 'apply', ...args, '--config', settings)
    return {apply, settings, uid, write}
  }

  let a: Awaited<ReturnType<typeof makeNode>>
  let b: Awaited<ReturnType<typeof makeNode>>
  before(async () => {
    world = await World.create()
    mkdirSync(keysDir())
    world.settings.general.report_keys = keysDir()
    world.writeSettings()
    assert.equal((await world.cli('build', '-e', 'production')).code, 0)
    const pushed = await world.cli('push', '-e', 'production')
    assert.equal(pushed.code, 0, show(pushed))
    // Nodes read the store and the build side's public key; nothing of the world is writable by them.
    for (const dir of [world.dir, world.keys, path.dirname(world.storePath())]) chmodSync(dir, 0o755)
    await run('chmod', ['-R', 'o+rX', world.store, world.settingsFile])
    // The drop directory: others (the nodes) may enter and create, not list; the group of the build
    // side's readers may list; the sticky bit keeps each entry its owner's; setgid gives everything
    // below that group, so the build side reads what the nodes write (0750 directories, 0640 files).
    mkdirSync(reports())
    chownSync(reports(), 0, REPORT_READERS)
    chmodSync(reports(), 0o3773)
    a = await makeNode('node-a', NODE_A)
    b = await makeNode('node-b', NODE_B)
    mkdirSync(path.join(world.dir, 'homes', String(BUILDER)), {recursive: true})
    chownSync(path.join(world.dir, 'homes', String(BUILDER)), BUILDER, BUILDER)
  })
  after(() => world.cleanup())

  it('each node writes its own report there, as its own user', async () => {
    for (const node of [a, b]) {
      const applied = await node.apply('--minimal')
      assert.equal(applied.code, 0, show(applied))
      assert.doesNotMatch(applied.stderr, /fleet report was not written/)
    }

    for (const [id, uid] of [
      ['node-a', NODE_A],
      ['node-b', NODE_B],
    ] as const) {
      const dir = statSync(path.join(reports(), id))
      const file = statSync(path.join(reports(), id, 'production.json'))
      assert.deepEqual([dir.uid, dir.gid, file.uid, file.gid], [uid, REPORT_READERS, uid, REPORT_READERS])
      assert.equal(file.mode & 0o777, 0o640)
    }
  })

  it("a node cannot list the reports, read another node's, or replace or remove it", async () => {
    const other = path.join(reports(), 'node-b', 'production.json')
    const asA = (command: string, ...args: string[]) => as(NODE_A, NODE_A, [], command, args)
    assert.notEqual((await asA('ls', reports())).code, 0, 'listing the drop directory')
    assert.notEqual((await asA('cat', other)).code, 0, "reading node B's report")
    assert.notEqual((await asA('ls', path.dirname(other))).code, 0, "listing node B's directory")
    assert.notEqual((await asA('sh', '-c', `echo forged > ${other}`)).code, 0, "overwriting node B's report")
    assert.notEqual((await asA('touch', path.join(path.dirname(other), 'x.json'))).code, 0, "writing in B's directory")
    assert.notEqual((await asA('mv', path.dirname(other), path.join(reports(), 'taken'))).code, 0, "moving B's away")
    assert.notEqual((await asA('rm', '-rf', path.dirname(other))).code, 0, "removing B's directory")
    assert.equal((await asA('cat', path.join(reports(), 'node-a', 'production.json'))).code, 0, 'reading its own')
    assert.deepEqual(readdirSync(path.dirname(other)), ['production.json'])
  })

  it('a node replaces its own report as its outcome changes', async () => {
    a.write({puppet: '/bin/false'})
    assert.equal((await a.apply()).code, 31)
    a.write()
  })

  it("a node that takes another's place first is seen: its reports are forged, and the real node warns", async () => {
    const c = await makeNode('node-c', NODE_C)
    a.write({report_id: 'node-c'})
    assert.equal((await a.apply()).code, 0)
    // Node A as the earlier test left it: its own id, its failing run.
    a.write({puppet: '/bin/false'})
    const blocked = await c.apply('--minimal')
    assert.equal(blocked.code, 0, show(blocked))
    assert.match(blocked.stderr, /the fleet report was not written \(.*permission denied.*\); the run is not affected/i)
    const fleet = await fleetAsBuilder([REPORT_READERS])
    const nodes = (JSON.parse(fleet.stdout) as {nodes: {node: string; flags: string[]}[]}).nodes
    assert.deepEqual(nodes.find((node) => node.node === 'node-c')?.flags, ['forged'])
    await run('rm', ['-rf', path.join(reports(), 'node-c')])
  })

  it('the build side, a user of the readers group, reads and verifies every report', async () => {
    const fleet = await fleetAsBuilder([REPORT_READERS])
    assert.equal(fleet.code, 0, show(fleet))
    const nodes = (JSON.parse(fleet.stdout) as {nodes: {node: string; flags: string[]; lastExit: number}[]}).nodes
    assert.deepEqual(
      nodes.map((node) => [node.node, node.flags, node.lastExit]),
      [
        ['node-a', ['failing'], 31],
        ['node-b', [], 0],
      ],
    )
    const outsider = await fleetAsBuilder([])
    assert.notEqual(outsider.code, 0, 'without the group, the build side reads nothing')
  })
})
