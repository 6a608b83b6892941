import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {dump, load} from 'js-yaml'

import {parseSettings} from '../src/config/settings.js'
import {run, runCli, show} from './helpers/cli.js'
import {type GithubWorkflow, PipelineStubs, runGithubJob, runGitlabJob} from './helpers/ci-pipeline.js'
import {matchSnapshot} from './helpers/snapshot.js'
import {World} from './helpers/world.js'

const scratch = mkdtempSync(path.join(os.tmpdir(), 'pupistry-ci-init-'))
after(() => rmSync(scratch, {force: true, recursive: true}))

/** A fixed armoured block: rendering only inlines a trusted key's text, so the snapshots stay stable. */
const PUBLIC_KEY = `-----BEGIN PGP PUBLIC KEY BLOCK-----

xjMEZ0CIABYJKwYBBAHaRw8BAQdAY2kgaW5pdCBzbmFwc2hvdCBrZXkgYnl0ZXM=
=CiIn
-----END PGP PUBLIC KEY BLOCK-----
`

/** An S3 store, two published branches and a catalog check: every part of the templates is rendered. */
function snapshotSettings(): string {
  const dir = mkdtempSync(path.join(scratch, 'settings-'))
  writeFileSync(path.join(dir, 'pupistry.public.asc'), PUBLIC_KEY)
  const file = path.join(dir, 'settings.yaml')
  const settings = {
    build: {
      access_key_id: 'AKIABUILDSIDEKEY',
      region: 'eu-west-1',
      secret_access_key: 'build-secret-never-in-ci',
      validate_nodes: [{certname: 'web1.example.com', facts: {os: {family: 'Debian'}}}],
    },
    general: {
      s3_bucket: 'example-bucket',
      s3_prefix: 'pupistry',
      signing_key_file: path.join(dir, 'never-read.secret.asc'),
      trusted_keys: path.join(dir, 'pupistry.public.asc'),
    },
  }
  writeFileSync(file, dump(settings))
  return file
}

const render = (settingsFile: string, ...args: string[]) =>
  runCli(['ci', 'init', '--branch', 'production', '--branch', 'staging', ...args, '--config', settingsFile])

async function shellcheck(script: string, name: string): Promise<void> {
  const file = path.join(scratch, `${name.replaceAll(/\W+/g, '-')}.sh`)
  writeFileSync(file, `#!/bin/bash\n${script}`)
  await run('bash', ['-n', file])
  // Debian's shellcheck, every severity down to style: no finding is accepted.
  await run('/usr/bin/shellcheck', ['--severity=style', file])
}

/** The settings a script writes with `cat > "$PUPISTRY_DIR/settings.yaml" <<'EOF'`. */
function settingsWritten(script: string): string {
  const match = /cat > "\$PUPISTRY_DIR\/settings\.yaml" <<'(\w+)'\n([\s\S]*?)\n\1\n/.exec(script)
  assert.ok(match, 'the script writes the settings file')
  return `${match[2]}\n`
}

describe('pupistry ci init', () => {
  let settingsFile: string
  before(() => {
    settingsFile = snapshotSettings()
  })

  it('lists the core CI templates', async () => {
    const result = await runCli(['ci', 'init', '--json', '--config', settingsFile])
    assert.equal(result.code, 0, show(result))
    const names = (JSON.parse(result.stdout) as Array<{name: string; kind: string}>).map((entry) => entry.name)
    assert.deepEqual(names, ['github', 'gitlab'])
  })

  it('github: parses, as in its snapshot; PRs read only, never see a secret; one publish at a time per environment', async () => {
    const result = await render(settingsFile, '--provider', 'github')
    assert.equal(result.code, 0, show(result))
    assert.equal(result.stderr, '')
    matchSnapshot('ci/github.yml', result.stdout)

    const workflow = load(result.stdout) as GithubWorkflow & {
      on: Record<string, {branches: string[]}>
      permissions: unknown
    }
    assert.deepEqual(workflow.on.pull_request?.branches, ['production', 'staging'])
    assert.deepEqual(workflow.on.push?.branches, ['production', 'staging'])
    assert.deepEqual(workflow.permissions, {})
    const {publish, review} = workflow.jobs
    assert.ok(review && publish)
    assert.deepEqual(review.permissions, {contents: 'read', 'id-token': 'write', 'pull-requests': 'write'})
    assert.deepEqual(publish.permissions, {contents: 'read', 'id-token': 'write'})
    assert.ok(!JSON.stringify(review).includes('secrets.'), 'a pull request job never references a secret')
    assert.ok(!JSON.stringify(review).includes('PUBLISH_ROLE'), 'nor the publish role')
    assert.equal(publish.environment, '${{ github.ref_name }}')
    assert.deepEqual(publish.concurrency, {
      'cancel-in-progress': false,
      group: 'pupistry-publish-${{ github.ref_name }}',
    })
    for (const [name, job] of Object.entries(workflow.jobs)) {
      for (const step of job.steps) {
        if (step.uses) assert.match(step.uses, /^[\w-]+\/[\w-]+@v\d+$/, `${name}: actions are pinned to a release`)
        if (!step.run) continue
        // Expressions in a script are an injection path (a branch name is user input): scripts read env only.
        assert.ok(!step.run.includes('${{'), `${name}: "${step.name}" has no expression in its script`)
        await shellcheck(step.run, `github-${name}-${step.name}`)
      }
    }

    const runs = (job: typeof review) => job.steps.map((step) => step.run ?? '').join('\n')
    assert.match(runs(review), /npm install --global --no-audit --no-fund pupistry@3\.0\.0-alpha\.1\n/)
    const reviewSettings = parseSettings(settingsWritten(runs(review)), 'review')
    const publishSettings = parseSettings(settingsWritten(runs(publish)), 'publish')
    assert.equal(reviewSettings.general.signing_key_file, undefined, 'no signing key on pull requests')
    assert.equal(publishSettings.general.signing_key_file, 'signing-key.asc')
    for (const settings of [reviewSettings, publishSettings]) {
      assert.equal(settings.general.s3_bucket, 'example-bucket')
      assert.equal(settings.build.access_key_id, undefined, 'no stored AWS keys: OIDC')
      assert.deepEqual(settings.build.validate_nodes, [{certname: 'web1.example.com', facts: {os: {family: 'Debian'}}}])
    }

    assert.ok(!result.stdout.includes('build-secret-never-in-ci'))
    assert.ok(!result.stdout.includes('never-read.secret.asc'))
  })

  it('gitlab: a pipeline that parses, as in its snapshot; MRs never see the signing key; one publish per environment', async () => {
    const result = await render(settingsFile, '--provider', 'gitlab')
    assert.equal(result.code, 0, show(result))
    assert.equal(result.stderr, '')
    matchSnapshot('ci/gitlab.yml', result.stdout)

    const pipeline = load(result.stdout) as Record<string, Record<string, unknown>> & {stages: string[]}
    assert.deepEqual(pipeline.stages, ['review', 'publish'])
    const review = pipeline['pupistry-review'] as Record<string, unknown>
    const publish = pipeline['pupistry-publish'] as Record<string, unknown>
    const base = pipeline['.pupistry'] as Record<string, unknown>
    assert.deepEqual(base.id_tokens, {PUPISTRY_AWS_ID_TOKEN: {aud: 'sts.amazonaws.com'}})
    assert.match(JSON.stringify(review.rules), /merge_request_event/)
    assert.match(JSON.stringify(review.rules), /\^\(production\|staging\)\$/)
    assert.equal(publish.resource_group, 'pupistry-$CI_COMMIT_BRANCH')
    assert.deepEqual(publish.environment, {name: '$CI_COMMIT_BRANCH'})
    assert.ok(!JSON.stringify(review).includes('PUPISTRY_SIGNING'), 'a merge request job never reads the key')
    assert.deepEqual(review.variables, {AWS_ROLE_ARN: '$PUPISTRY_REVIEW_ROLE_ARN'})
    assert.deepEqual(publish.variables, {AWS_ROLE_ARN: '$PUPISTRY_PUBLISH_ROLE_ARN'})
    for (const [name, job] of [
      ['review', review],
      ['publish', publish],
    ] as const) {
      const script = [...(base.before_script as string[]), ...(job.script as string[])].join('\n')
      await shellcheck(script, `gitlab-${name}`)
      await shellcheck((job.after_script as string[] | undefined)?.join('\n') ?? '', `gitlab-${name}-after`)
    }
  })

  it('refuses a branch name that is not one', async () => {
    const result = await render(settingsFile, '--provider', 'github', '--branch', 'a b')
    assert.equal(result.code, 2, show(result))
    assert.match(result.stderr, /not a branch name pupistry publishes from: a b/)
  })
})

describe('the generated pipelines, run by hand against a file store (provider parts stubbed)', () => {
  let world: World
  let stubs: PipelineStubs
  let signingKey: string
  const passphrase = 'ci passphrase'

  before(async () => {
    world = await World.create()
    // A signing key with a passphrase, as a CI secret holds it.
    const keys = await world.cli(
      'keys',
      'generate',
      '--dir',
      world.keys,
      '--force',
      '--user-id',
      'CI Signer <ci@example.invalid>',
    )
    assert.equal(keys.code, 0, show(keys))
    stubs = new PipelineStubs(mkdtempSync(path.join(world.dir, 'ci-')))
    signingKey = readFileSync(path.join(world.keys, 'pupistry-signing.secret.asc'), 'utf8')
  })
  after(() => world?.cleanup())

  /** A checkout of production, with an edit (a pull request, or the merge of one). */
  async function checkout(edit?: (dir: string) => void): Promise<string> {
    const dir = mkdtempSync(path.join(world.dir, 'checkout-'))
    await run('git', ['clone', '-q', '--branch', 'production', path.join(world.repos, 'control.git'), dir])
    edit?.(dir)
    return dir
  }

  const bumpHello = (dir: string) => {
    const file = path.join(dir, 'Puppetfile')
    writeFileSync(file, readFileSync(file, 'utf8').replace("'v1.0.0'", "'v1.1.0'"))
  }

  const serials = () => readdirSync(world.storePath('production', 'manifests')).sort()

  it('github: publish; a pull request gets its diff comment and changes nothing; its merge is published and applied', async () => {
    const rendered = await world.cli('ci', 'init', '--provider', 'github')
    assert.equal(rendered.code, 0, show(rendered))
    const workflow = load(rendered.stdout) as GithubWorkflow
    const job = async (name: string, workspace: string, extra: NodeJS.ProcessEnv = {}) => {
      const runnerTemp = mkdtempSync(path.join(world.dir, 'runner-'))
      const summary = path.join(runnerTemp, 'summary.md')
      await runGithubJob(workflow, name, {
        env: {
          ...stubs.env(),
          ...extra,
          GITHUB_REPOSITORY: 'example/control',
          GITHUB_STEP_SUMMARY: summary,
          GITHUB_WORKSPACE: workspace,
        },
        values: {
          'github.base_ref': 'production',
          'github.event.pull_request.number': '7',
          'github.ref_name': 'production',
          'github.token': 'token-for-comments',
          'runner.temp': runnerTemp,
          'secrets.PUPISTRY_SIGNING_KEY': signingKey,
          'secrets.PUPISTRY_SIGNING_PASSPHRASE': passphrase,
        },
        workspace,
      })
      return {runnerTemp, summary}
    }

    const first = await job('publish', await checkout())
    assert.match(readFileSync(first.summary, 'utf8'), /\| production \| published \| `[0-9a-f]{12}` \| 1 \| CI Signer/)
    assert.ok(!existsSync(path.join(first.runnerTemp, 'pupistry', 'signing-key.asc')), 'the key is removed')
    assert.deepEqual(serials(), ['000000000001.json'])

    const review = await job('review', await checkout(bumpHello))
    const comment = readFileSync(path.join(stubs.out, 'comment.md'), 'utf8')
    assert.match(comment, /^<!-- pupistry-diff -->\n\n## pupistry diff\n/)
    assert.match(comment, /\| `hello` \| changed \| `v1\.0\.0@[0-9a-f]{12}` \| `v1\.1\.0@[0-9a-f]{12}` \|/)
    assert.match(
      readFileSync(stubs.log, 'utf8'),
      /^gh api --method POST repos\/example\/control\/issues\/7\/comments /m,
    )
    assert.ok(!existsSync(path.join(review.runnerTemp, 'pupistry', 'signing-key.asc')))
    assert.deepEqual(serials(), ['000000000001.json'], 'a pull request publishes nothing')

    // A second run of the pull request updates its comment instead of adding one.
    await job('review', await checkout(bumpHello), {STUB_COMMENT_ID: '4242'})
    assert.match(
      readFileSync(stubs.log, 'utf8'),
      /^gh api --method PATCH repos\/example\/control\/issues\/comments\/4242 /m,
    )

    const merged = await job('publish', await checkout(bumpHello))
    assert.match(readFileSync(merged.summary, 'utf8'), /\| production \| published \| `[0-9a-f]{12}` \| 2 \|/)
    assert.deepEqual(serials(), ['000000000001.json', '000000000002.json'])
    assert.match(
      readFileSync(stubs.log, 'utf8'),
      /^npm install --global --no-audit --no-fund pupistry@3\.0\.0-alpha\.1$/m,
    )

    const applied = await world.cli('apply')
    assert.equal(applied.code, 0, show(applied))
    assert.equal(world.targetFile('hello.txt'), 'hello from v1.1.0\n')
  })

  it('gitlab: a merge request gets its diff note; a broken merge is refused with the file and line; a good one is published', async () => {
    const rendered = await world.cli('ci', 'init', '--provider', 'gitlab')
    assert.equal(rendered.code, 0, show(rendered))
    const pipeline = load(rendered.stdout) as Parameters<typeof runGitlabJob>[0]
    let jobId = 100
    const job = async (name: string, projectDir: string, extra: NodeJS.ProcessEnv = {}) => {
      const buildsDir = mkdtempSync(path.join(world.dir, 'builds-'))
      const keyFile = path.join(buildsDir, 'PUPISTRY_SIGNING_KEY.file')
      writeFileSync(keyFile, signingKey, {mode: 0o600})
      jobId++
      await runGitlabJob(pipeline, name, {
        env: {
          ...stubs.env(),
          ...extra,
          CI_API_V4_URL: 'https://gitlab.invalid/api/v4',
          CI_BUILDS_DIR: buildsDir,
          CI_COMMIT_BRANCH: 'production',
          CI_JOB_ID: String(jobId),
          CI_MERGE_REQUEST_IID: '9',
          CI_MERGE_REQUEST_TARGET_BRANCH_NAME: 'production',
          CI_PROJECT_DIR: projectDir,
          CI_PROJECT_ID: '12',
          PUPISTRY_GITLAB_TOKEN: 'glpat-test',
          ...(name === 'pupistry-publish'
            ? {PUPISTRY_SIGNING_KEY: keyFile, PUPISTRY_SIGNING_PASSPHRASE: passphrase}
            : {}),
        },
        projectDir,
      })
      return {keyCopy: path.join(buildsDir, `pupistry-${jobId}`, 'signing-key.asc')}
    }

    const before = serials()
    rmSync(path.join(stubs.out, 'comment.md'), {force: true})
    const change = (dir: string) => {
      const file = path.join(dir, 'data', 'common.yaml')
      writeFileSync(file, readFileSync(file, 'utf8').replace('production says hi', 'gitlab says hi'))
    }
    await job('pupistry-review', await checkout(change), {STUB_COMMENT_ID: '31'})
    const comment = readFileSync(path.join(stubs.out, 'comment.md'), 'utf8')
    assert.match(comment, /\| `data\/common\.yaml` \| changed \| \+1 −1 \|/)
    assert.match(comment, /\+greeting::greeting: 'gitlab says hi'/)
    assert.match(readFileSync(stubs.log, 'utf8'), /^curl .*--request PUT .*notes\/31$/m)
    assert.deepEqual(serials(), before)

    const broken = await checkout((dir) => {
      change(dir)
      writeFileSync(path.join(dir, 'manifests', 'site.pp'), 'node default {\n  include profile::base\n\n')
    })
    await assert.rejects(job('pupistry-publish', broken), (error: Error) => {
      assert.match(error.message, /production: manifests\/site\.pp:3: Syntax error at end of input/)
      return true
    })
    assert.deepEqual(serials(), before, 'nothing reached the store')

    const good = await job('pupistry-publish', await checkout(change))
    assert.ok(!existsSync(good.keyCopy), 'after_script removed the signing key')
    assert.equal(serials().length, before.length + 1)
  })
})
