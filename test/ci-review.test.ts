import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {run, show} from './helpers/cli.js'
import {World} from './helpers/world.js'

/** What the store holds, file by file: a refused push must leave it exactly as it was. */
function storeListing(world: World): string[] {
  return (readdirSync(world.store, {recursive: true}) as string[]).sort()
}

describe('review and validation before push, with real r10k, puppet and git', () => {
  let world: World
  /** A working tree of production, as a CI checkout or an operator's clone holds it. */
  let tree: string

  before(async () => {
    world = await World.create({
      build: {validate_nodes: [{certname: 'web1.example.com', facts: 'facts/web1.yaml'}]},
    })
    // Facts as `puppet facts show` prints them, in a file next to the settings.
    mkdirSync(path.join(world.dir, 'facts'))
    writeFileSync(
      path.join(world.dir, 'facts', 'web1.yaml'),
      'name: web1.example.com\nvalues:\n  os:\n    family: Debian\n  role: web\n',
    )
    const built = await world.cli('build')
    assert.equal(built.code, 0, show(built))
    const pushed = await world.cli('push', '--environment', 'production')
    assert.equal(pushed.code, 0, show(pushed))
    tree = mkdtempSync(path.join(world.dir, 'tree-'))
    await run('git', ['clone', '-q', '--branch', 'production', path.join(world.repos, 'control.git'), tree])
  })
  after(() => world?.cleanup())

  const edit = (file: string, change: (text: string) => string) =>
    writeFileSync(path.join(tree, file), change(readFileSync(path.join(tree, file), 'utf8')))
  const buildTree = () => world.cli('build', '--source', tree, '--as', 'production')

  it('diff --exit-code: 0 and "no changes" in Markdown when the build is what is live', async () => {
    const result = await world.cli('diff', '-e', 'production', '--format', 'markdown', '--exit-code')
    assert.equal(result.code, 0, show(result))
    assert.match(
      result.stdout,
      /^## pupistry diff\n\n\*\*production\*\*: no changes \(`[0-9a-f]{12}` is live as serial 1\)\n$/,
    )
  })

  it('build --source of an uncommitted working tree builds it with r10k and diffs it against the live environment', async () => {
    edit('data/common.yaml', (text) => text.replace('production says hi', 'uncommitted says hi'))
    const built = await buildTree()
    assert.equal(built.code, 0, show(built))
    assert.match(built.stderr, /Assembling production of the working tree .* with r10k/)
    const record = JSON.parse(readFileSync(path.join(world.dir, 'cache', 'build', 'production', 'build.json'), 'utf8'))
    const head = (await run('git', ['-C', tree, 'rev-parse', 'HEAD'])).trim()
    assert.equal(record.build.commit, `${head}-dirty`, 'the checkout HEAD, marked as not what was built')
    assert.ok(record.build.modules.hello, 'modules come from the Puppetfile, deployed by r10k')

    const result = await world.cli('diff', '-e', 'production', '--format', 'markdown', '--exit-code')
    assert.equal(result.code, 1, show(result))
    assert.match(result.stdout, /\| `data\/common\.yaml` \| changed \| \+1 −1 \|/)
    assert.match(result.stdout, /^-greeting::greeting: 'production says hi'$/m)
    assert.match(result.stdout, /^\+greeting::greeting: 'uncommitted says hi'$/m)
  })

  it('diff --exit-code: 1 for a module bump, the module named with both versions', async () => {
    edit('Puppetfile', (text) => text.replace("'v1.0.0'", "'v1.1.0'"))
    const built = await buildTree()
    assert.equal(built.code, 0, show(built))
    const result = await world.cli('diff', '-e', 'production', '--format', 'markdown', '--exit-code')
    assert.equal(result.code, 1, show(result))
    assert.match(result.stdout, /\| `hello` \| changed \| `v1\.0\.0@[0-9a-f]{12}` \| `v1\.1\.0@[0-9a-f]{12}` \|/)
    assert.match(result.stdout, /\| `modules\/hello\/manifests\/init\.pp` \| changed \| \+1 −1 \|/)
  })

  it('diff --exit-code: an error is neither 0 nor 1', async () => {
    const result = await world.cli('diff', '-e', 'nosuch', '--format', 'markdown', '--exit-code')
    assert.equal(result.code, 2, show(result))
  })

  it('a 200 KB text change is cut to --max-bytes (and to the default) with a note saying what was cut', async () => {
    mkdirSync(path.join(tree, 'site', 'profile', 'files'), {recursive: true})
    const line = (index: number) => `line ${index} of a large generated file, with some text to make it long\n`
    writeFileSync(
      path.join(tree, 'site', 'profile', 'files', 'large.txt'),
      Array.from({length: 3000}, (_, index) => line(index)).join(''),
    )
    assert.ok(readFileSync(path.join(tree, 'site', 'profile', 'files', 'large.txt')).length > 200_000)
    const built = await buildTree()
    assert.equal(built.code, 0, show(built))

    const small = await world.cli('diff', '-e', 'production', '--format', 'markdown', '--max-bytes', '8000')
    assert.equal(small.code, 0, show(small))
    assert.ok(Buffer.byteLength(small.stdout) <= 8000, `${Buffer.byteLength(small.stdout)} bytes`)
    assert.match(small.stdout, /\| `site\/profile\/files\/large\.txt` \| added \| \+3000 −0 \|/)
    assert.match(
      small.stdout,
      /> \*\*Cut to fit 8000 bytes:\*\* .*Run `pupistry diff` on the build for the whole change\.\n$/,
    )

    const standard = await world.cli('diff', '-e', 'production', '--format', 'markdown')
    assert.equal(standard.code, 0, show(standard))
    const size = Buffer.byteLength(standard.stdout)
    assert.ok(size <= 60_000 && size > 50_000, `${size} bytes: as much as fits under the default`)
    assert.match(standard.stdout, /the diff of site\/profile\/files\/large\.txt is shown in part/)
    assert.match(standard.stdout, /^\+line 0 of a large generated file/m)
    assert.match(standard.stdout, /```\n\n<\/details>\n\n> \*\*Cut to fit 60000 bytes/, 'the code block is closed')
  })

  for (const broken of [
    {
      file: 'site/profile/manifests/base.pp',
      text: "class profile::base {\n  include hello\n  include greeting\n  notify { 'x': message => }\n}\n",
      where: /production: site\/profile\/manifests\/base\.pp:4: Syntax error at '\}'/,
    },
    {
      file: 'site/profile/templates/motd.epp',
      text: '<%- | String $name | -%>\nHello <%= $name\n',
      where: /production: site\/profile\/templates\/motd\.epp:3: Unbalanced epp tag/,
    },
    {
      file: 'data/common.yaml',
      text: "---\nhello::target: 'x'\n  greeting::target: [unclosed\n",
      where: /production: data\/common\.yaml:3: /,
    },
  ]) {
    it(`push refuses ${broken.file} that Puppet cannot read, naming file and line; nothing reaches the store`, async () => {
      const file = path.join(tree, broken.file)
      const original = existsSync(file) ? readFileSync(file, 'utf8') : undefined
      mkdirSync(path.dirname(path.join(tree, broken.file)), {recursive: true})
      writeFileSync(path.join(tree, broken.file), broken.text)
      try {
        const built = await buildTree()
        assert.equal(built.code, 0, show(built))
        const before = storeListing(world)
        const result = await world.cli('push', '-e', 'production')
        assert.equal(result.code, 26, show(result))
        assert.match(result.stderr, broken.where)
        assert.deepEqual(storeListing(world), before, 'nothing reached the store')
        const json = await world.cli('validate', '-e', 'production', '--json')
        assert.equal(json.code, 26, show(json))
        const details = JSON.parse(json.stdout).error.details as Array<{environment: string; file: string}>
        assert.deepEqual(
          details.map((problem) => [problem.environment, problem.file]),
          [['production', broken.file]],
        )
      } finally {
        if (original === undefined) rmSync(file)
        else writeFileSync(file, original)
      }
    })
  }

  it('a catalog that does not compile for a build.validate_nodes node stops the push with the file and line', async () => {
    edit('manifests/site.pp', (text) => `${text}node 'web1.example.com' {\n  include no_such_class\n}\n`)
    const built = await buildTree()
    assert.equal(built.code, 0, show(built))
    const before = storeListing(world)
    const result = await world.cli('push', '-e', 'production')
    assert.equal(result.code, 26, show(result))
    assert.match(result.stderr, /production: manifests\/site\.pp:5: catalog of web1\.example\.com: .*no_such_class/)
    assert.deepEqual(storeListing(world), before)
    edit('manifests/site.pp', (text) => text.replace('include no_such_class', 'include profile::base'))
  })

  it('a valid change goes through: validate reports what it checked, push publishes it', async () => {
    const built = await buildTree()
    assert.equal(built.code, 0, show(built))
    const validated = await world.cli('validate', '-e', 'production')
    assert.equal(validated.code, 0, show(validated))
    assert.match(
      validated.stdout,
      /^production: valid \(4 manifests, 1 EPP templates, 2 hiera YAML files, catalogs of web1\.example\.com compiled\)$/m,
    )
    const pushed = await world.cli('push', '-e', 'production', '--format', 'markdown')
    assert.equal(pushed.code, 0, show(pushed))
    assert.match(pushed.stdout, /^## pupistry push\n\n\| Environment \| Result \| Version \| Serial \| Signed by \|\n/)
    assert.match(
      pushed.stdout,
      /^\| production \| published \| `[0-9a-f]{12}` \| 2 \| Test Signer \\<signer@example\.invalid\\> /m,
    )
  })

  it('push --no-validate skips the checks (the escape hatch docs/ci.md warns about)', async () => {
    edit('manifests/site.pp', (text) => `${text}class broken {\n`)
    const built = await buildTree()
    assert.equal(built.code, 0, show(built))
    assert.equal((await world.cli('validate', '-e', 'production')).code, 26)
    const pushed = await world.cli('push', '-e', 'production', '--no-validate')
    assert.equal(pushed.code, 0, show(pushed))
    assert.match(pushed.stdout, /production: published [0-9a-f]{12} as serial 3/)
  })
})
