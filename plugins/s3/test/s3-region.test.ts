import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {stringify as dump} from 'yaml'

import {runCli, show} from '../../../test/helpers/cli.js'
import {startFakeS3} from '../../../test/helpers/s3-errors-server.js'
import {World} from '../../../test/helpers/world.js'

/**
 * Which region requests are signed for: the SigV4 Authorization header names
 * it (Credential=KEY/DATE/REGION/s3/aws4_request). A loopback server records
 * the headers and answers AccessDenied, so each run ends after one request.
 */
describe('the s3 store takes its region from settings, then the SDK chain (AWS_REGION, the profile)', () => {
  let world: World
  let aws: string
  before(async () => {
    world = await World.create({general: {storage: 's3://fleet/p'}})
    aws = path.join(world.dir, 'aws')
    mkdirSync(aws)
    writeFileSync(
      path.join(aws, 'config'),
      '[profile fleet]\nregion = eu-west-1\n\n[profile noregion]\noutput = json\n',
    )
    writeFileSync(
      path.join(aws, 'credentials'),
      '[fleet]\naws_access_key_id = AKIAPROFILEKEY\naws_secret_access_key = profile-secret\n\n' +
        '[noregion]\naws_access_key_id = AKIANOREGION\naws_secret_access_key = noregion-secret\n',
    )
  })
  after(() => world.cleanup())

  /** Runs `apply` against the recording server with these agent settings and environment; returns the run and the regions signed for. */
  async function signedRegions(agent: Record<string, unknown>, env: NodeJS.ProcessEnv) {
    const fake = await startFakeS3({code: 'AccessDenied', message: 'Access Denied', status: 403})
    try {
      const settings = {...structuredClone(world.settings), agent: {...world.settings.agent, ...agent}}
      settings.general.s3_endpoint = fake.endpoint
      const file = path.join(world.dir, 'region.yaml')
      writeFileSync(file, dump(settings))
      const result = await runCli(['apply', '--config', file], {
        env: {
          // Only these files and variables: nothing of the machine's own AWS setup, and never the instance metadata service.
          AWS_CONFIG_FILE: path.join(aws, 'config'),
          AWS_DEFAULT_REGION: undefined,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_PROFILE: undefined,
          AWS_REGION: undefined,
          AWS_SHARED_CREDENTIALS_FILE: path.join(aws, 'credentials'),
          HOME: world.dir,
          ...env,
        },
      })
      const regions = fake.requests.map(
        (headers) => /Credential=[^/]+\/\d{8}\/([^/]+)\/s3\/aws4_request/.exec(String(headers.authorization))?.[1],
      )
      return {regions, result}
    } finally {
      await fake.stop()
    }
  }

  it("AWS_PROFILE's region signs the requests", async () => {
    const {regions, result} = await signedRegions({}, {AWS_PROFILE: 'fleet'})
    assert.equal(result.code, 13, show(result))
    assert.match(
      result.stderr,
      /access denied .* with the agent credentials \(the default credential chain \(profile fleet\)\)/,
    )
    assert.ok(regions.length > 0, 'a request was made')
    assert.deepEqual(new Set(regions), new Set(['eu-west-1']))
  })

  it('agent.region in the settings wins over the profile', async () => {
    const {regions, result} = await signedRegions({region: 'ap-south-1'}, {AWS_PROFILE: 'fleet'})
    assert.equal(result.code, 13, show(result))
    assert.deepEqual(new Set(regions), new Set(['ap-south-1']))
  })

  it('AWS_REGION wins over the profile, as in every AWS SDK', async () => {
    const {regions, result} = await signedRegions({}, {AWS_PROFILE: 'fleet', AWS_REGION: 'eu-central-1'})
    assert.equal(result.code, 13, show(result))
    assert.deepEqual(new Set(regions), new Set(['eu-central-1']))
  })

  it('with no region anywhere: AWS_DEFAULT_REGION, else us-east-1', async () => {
    const plain = await signedRegions({}, {AWS_PROFILE: 'noregion'})
    assert.equal(plain.result.code, 13, show(plain.result))
    assert.deepEqual(new Set(plain.regions), new Set(['us-east-1']))
    const cli = await signedRegions({}, {AWS_DEFAULT_REGION: 'sa-east-1', AWS_PROFILE: 'noregion'})
    assert.deepEqual(new Set(cli.regions), new Set(['sa-east-1']))
  })

  it("a profile that does not exist keeps the SDK's reason in the message, and sends nothing", async () => {
    const {regions, result} = await signedRegions({}, {AWS_PROFILE: 'nosuchprofile'})
    assert.equal(result.code, 13, show(result))
    assert.match(result.stderr, /^pupistry: error: no credentials for the store/m)
    assert.match(result.stderr, /Could not resolve credentials using profile: \[nosuchprofile\]/)
    assert.deepEqual(regions, [])
  })
})
