import {readdirSync, readFileSync} from 'node:fs'

/** A process, named with its start time so a reused pid is never mistaken for it. */
export interface ProcessId {
  pid: number
  started: string
}

function statOf(pid: number): {ppid: number; started: string} | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // "pid (comm) state ppid ... starttime(22nd)": comm may hold spaces, so count from the ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return {ppid: Number(fields[1]), started: fields[19]}
  } catch {
    return undefined
  }
}

/** A process's start time (clock ticks after boot, /proc/<pid>/stat field 22), or undefined when it does not exist or there is no /proc. */
export function startTimeOf(pid: number): string | undefined {
  return statOf(pid)?.started
}

/** The calling process, named as a ProcessId. */
export function thisProcess(): ProcessId {
  return {pid: process.pid, started: startTimeOf(process.pid) ?? ''}
}

/** True while the process recorded is still running: same pid and same start time. */
export function stillRunning(entry: ProcessId): boolean {
  const started = startTimeOf(entry.pid)
  return started !== undefined && started === entry.started && !isZombie(entry.pid)
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return false
  }
}

/**
 * A process and all its descendants, from /proc (empty where there is no
 * /proc). Puppet runs exec resources in their own sessions, so its process
 * group alone does not reach them.
 */
export function processTree(root: number): ProcessId[] {
  let names: string[]
  try {
    names = readdirSync('/proc')
  } catch {
    return []
  }

  const children = new Map<number, ProcessId[]>()
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue
    const stat = statOf(Number(name))
    if (!stat) continue
    const siblings = children.get(stat.ppid) ?? []
    siblings.push({pid: Number(name), started: stat.started})
    children.set(stat.ppid, siblings)
  }

  const rootStat = statOf(root)
  if (!rootStat) return []
  const tree: ProcessId[] = [{pid: root, started: rootStat.started}]
  for (let index = 0; index < tree.length; index++) tree.push(...(children.get(tree[index].pid) ?? []))
  return tree
}

/**
 * Signals a process's group (when it leads one) and the tree below it;
 * returns the processes it found, to be signalled again later
 * (signalProcesses) even after the root is gone.
 */
export function signalTree(root: number, signal: NodeJS.Signals): ProcessId[] {
  const tree = processTree(root)
  try {
    process.kill(-root, signal)
  } catch {
    // Not a group leader, or the group is gone already.
  }

  signalProcesses(tree, signal)
  return tree
}

/** Signals each process that is still the one recorded. */
export function signalProcesses(processes: ProcessId[], signal: NodeJS.Signals): void {
  for (const entry of processes) {
    if (statOf(entry.pid)?.started !== entry.started) continue
    try {
      process.kill(entry.pid, signal)
    } catch {
      // Gone meanwhile.
    }
  }
}
