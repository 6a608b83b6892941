/**
 * Reads what librarian-puppet resolved from its Puppetfile.lock: sections
 * (GIT, FORGE, PATH) of `key: value` lines and a `specs:` list of
 * `name (version)` lines. Module names are reported the way r10k reports
 * them (the part after the author), git modules as `ref@commit`.
 */
export function lockedModules(lock: string): Record<string, string> {
  const modules: Record<string, string> = {}
  let section = ''
  let fields: Record<string, string> = {}
  let inSpecs = false
  for (const line of lock.split('\n')) {
    if (/^\S/.test(line)) {
      section = line.trim()
      fields = {}
      inSpecs = false
      continue
    }

    const field = /^ {2}(\w+):\s*(.*)$/.exec(line)
    if (field) {
      fields[field[1]] = field[2]
      inSpecs = field[1] === 'specs'
      continue
    }

    const spec = /^ {4}(\S+) \(([^)]*)\)/.exec(line)
    if (!spec || !inSpecs || section === 'DEPENDENCIES') continue
    const name = spec[1].split(/[-/]/).pop() ?? spec[1]
    modules[name] = section === 'GIT' && fields.sha ? `${fields.ref ?? spec[2]}@${fields.sha}` : spec[2]
  }

  return modules
}
