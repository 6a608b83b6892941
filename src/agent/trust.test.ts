import assert from 'node:assert/strict'
import {createHmac, timingSafeEqual} from 'node:crypto'
import {describe, it} from 'node:test'

import type {Signature, TrustedKeyFile, VerifiedSignature} from '../contracts.js'
import {ExpiredError, HeldBackError, VerificationError} from '../errors.js'
import {makeEnvelope, preAuthEncoding} from '../format/envelope.js'
import {artifactKey} from '../format/layout.js'
import {type Manifest, manifestPayloadType} from '../format/manifest.js'
import type {PointerEnvelope} from '../format/pointer.js'
import type {NodeKeys} from '../signing/signing.js'
import {cohortPlace} from '../format/rollout.js'
import type {EnvironmentState} from './state.js'
import {decide, decidePrevious, type TrustInput} from './trust.js'

// A keyed hash stands in for a signature scheme: only a key's holder makes a signature that verifies with it.
const TRUSTED: TrustedKeyFile = {file: 'trusted.asc', text: 'the build server key'}
const STRANGER: TrustedKeyFile = {file: 'stranger.asc', text: 'a key nobody trusts'}

function sign(key: TrustedKeyFile, data: Uint8Array): Signature {
  return {keyid: key.file, sig: createHmac('sha256', key.text).update(data).digest()}
}

async function verify(
  data: Uint8Array,
  signature: Signature,
  trusted: TrustedKeyFile[],
): Promise<VerifiedSignature | undefined> {
  const key = trusted.find((candidate) =>
    timingSafeEqual(Buffer.from(sign(candidate, data).sig), Buffer.from(signature.sig)),
  )
  return key ? {identity: `holder of ${key.file}`, keyid: signature.keyid} : undefined
}

const V1 = '1'.repeat(64)
const V2 = '2'.repeat(64)
const V3 = '3'.repeat(64)
const NOW = new Date('2026-06-01T12:00:00.000Z')
const PAST = '2026-06-01T11:00:00.000Z'
const FUTURE = '2026-06-02T12:00:00.000Z'

function manifest(fields: Partial<Manifest> = {}): Manifest {
  const environment = fields.environment ?? 'production'
  const version = fields.version ?? V1
  return {
    artifact: {files: 3, key: artifactKey(environment, version), sha256: version, size: 100, unpacked_size: 300},
    build: {assembler: 'r10k', commit: null, host: 'build', modules: {}, tools: {}, user: 'ci'},
    created: '2026-06-01T10:00:00.000Z',
    environment,
    expires: null,
    format: 1,
    prefix: '',
    serial: 5,
    version,
    ...fields,
  }
}

function pointer(content: object, options: {payloadType?: string; signers?: TrustedKeyFile[]} = {}): PointerEnvelope {
  const payloadType = options.payloadType ?? manifestPayloadType(1)
  const payload = Buffer.from(JSON.stringify(content))
  const signatures = (options.signers ?? [TRUSTED]).map((key) => sign(key, preAuthEncoding(payloadType, payload)))
  return {
    envelope: makeEnvelope(payloadType, payload, signatures),
    etag: '"new-etag"',
    where: 'store pupistry/production/latest.json',
  }
}

function keys(fields: Partial<NodeKeys> = {}): NodeKeys {
  return {disabled: false, setting: 'general.trusted_keys in settings.yaml', trusted: [TRUSTED], verify, ...fields}
}

/** A node that installed serial 5 (V2) and is asked for production in the store with prefix "". */
function input(fields: Partial<TrustInput> = {}): TrustInput & {logged: string[]} {
  const logged: string[] = []
  const log = {
    info: (message: string) => logged.push(`info: ${message}`),
    warn: (message: string) => logged.push(`warn: ${message}`),
  }
  const state: EnvironmentState = {etag: '"old-etag"', serial: 5, version: V2}
  return {
    environment: 'production',
    keys: keys(),
    location: 'store',
    log,
    logged,
    now: NOW,
    pointer: pointer(manifest({serial: 6})),
    prefix: '',
    state,
    ...fields,
  }
}

const pinnedOn = (pinned: EnvironmentState['pinned']): EnvironmentState => ({
  etag: '"old-etag"',
  pinned,
  serial: 5,
  version: V2,
})

describe('trust: signatures', () => {
  it('installs a newer manifest signed by a trusted key, and says who signed it', async () => {
    const verdict = await decide(input())
    assert.equal(verdict.action, 'install')
    assert.equal(verdict.manifest?.serial, 6)
    assert.equal(verdict.signedBy, 'holder of trusted.asc (trusted.asc)')
    assert.equal(verdict.etag, '"new-etag"')
    assert.equal(verdict.pin, 'none')
  })

  it('refuses a signature by a key the node does not trust', async () => {
    await assert.rejects(decide(input({pointer: pointer(manifest({serial: 6}), {signers: [STRANGER]})})), {
      message: /no valid signature by a trusted key \(signed by stranger\.asc\)/,
      name: VerificationError.name,
    })
  })

  it('refuses a manifest changed after it was signed', async () => {
    const signed = pointer(manifest({serial: 6}))
    signed.envelope.payload = Buffer.from(JSON.stringify(manifest({serial: 7}))).toString('base64')
    await assert.rejects(decide(input({pointer: signed})), /no valid signature by a trusted key/)
  })

  it('refuses an unsigned manifest on a node that trusts keys', async () => {
    await assert.rejects(
      decide(input({pointer: pointer(manifest({serial: 6}), {signers: []})})),
      /is not signed, and this node only accepts signed manifests/,
    )
  })

  it('accepts an unsigned manifest only where the node itself set gpg_disable, and warns', async () => {
    const asked = input({
      keys: keys({disabled: true, trusted: []}),
      pointer: pointer(manifest({serial: 6}), {signers: []}),
    })
    const verdict = await decide(asked)
    assert.equal(verdict.action, 'install')
    assert.equal(verdict.signedBy, undefined)
    assert.deepEqual(asked.logged, [
      'warn: general.gpg_disable is true on this node: the manifest signature was NOT checked',
    ])
  })

  it('refuses everything when no trusted keys are configured (never fails open)', async () => {
    await assert.rejects(
      decide(input({keys: keys({trusted: []})})),
      /no trusted keys configured \(general\.trusted_keys in settings\.yaml\): refusing the manifest of production at store/,
    )
  })
})

describe('trust: format', () => {
  it('installs a format-2 manifest signed under the format-2 payload type', async () => {
    const content = manifest({format: 2, serial: 6})
    const verdict = await decide(input({pointer: pointer(content, {payloadType: manifestPayloadType(2)})}))
    assert.equal(verdict.action, 'install')
    assert.equal(verdict.manifest?.format, 2)
  })

  it('refuses an unknown payload type, such as a format this node does not read', async () => {
    const content = {...manifest({serial: 6}), format: 3}
    await assert.rejects(
      decide(input({pointer: pointer(content, {payloadType: 'application/vnd.pupistry.manifest+json; version=3'})})),
      /not a pupistry manifest \(payload type .*version=3\)/,
    )
  })

  it('refuses a format number other than the one its signed payload type names', async () => {
    await assert.rejects(
      decide(input({pointer: pointer({...manifest({serial: 6}), format: 2})})),
      /invalid manifest \(format: /,
    )
    await assert.rejects(
      decide(input({pointer: pointer(manifest({serial: 6}), {payloadType: manifestPayloadType(2)})})),
      /invalid manifest \(format: /,
    )
  })

  it('refuses a manifest that does not match the schema', async () => {
    await assert.rejects(decide(input({pointer: pointer({...manifest({serial: 6}), extra: true})})), /invalid manifest/)
  })

  it('refuses build.modules or build.tools that are not objects of strings, even when validly signed', async () => {
    const base = manifest({serial: 6})
    for (const [field, value] of [
      ['modules', ['a']],
      ['tools', []],
      ['modules', 'a'],
      ['modules', null],
      ['tools', {node: 20}],
      ['modules', {a: 'x'.repeat(1001)}],
      ['modules', {['k'.repeat(1001)]: 'a'}],
      ['tools', JSON.parse('{"node": "20", "__proto__": {}}')],
    ] as const) {
      const content = {...base, build: {...base.build, [field]: value}}
      const message = new RegExp(`invalid manifest \\(build\\.${field}`)
      await assert.rejects(decide(input({pointer: pointer(content)})), {message, name: VerificationError.name})
    }
  })
})

describe('trust: binding to environment and store', () => {
  it("refuses a manifest signed for another environment (staging's on production's pointer)", async () => {
    await assert.rejects(decide(input({pointer: pointer(manifest({environment: 'staging', serial: 6}))})), {
      message: 'manifest is signed for environment staging, but this node asked for production; refused',
      name: VerificationError.name,
    })
  })

  it("refuses a manifest published under another store prefix (another store's copy)", async () => {
    await assert.rejects(decide(input({pointer: pointer(manifest({prefix: 'other/', serial: 6}))})), {
      message: 'manifest was published under store prefix "other/", not ""; refused',
      name: VerificationError.name,
    })
    await assert.rejects(
      decide(input({pointer: pointer(manifest({serial: 6})), prefix: 'fleet/'})),
      /published under store prefix "", not "fleet\/"; refused/,
    )
  })
})

describe('trust: serial floor', () => {
  it('refuses a replayed manifest with a lower serial than the installed one', async () => {
    await assert.rejects(
      decide(input({pointer: pointer(manifest({serial: 4, version: V1}))})),
      /the store offers serial 4, older than the installed serial 5; refusing a rollback/,
    )
  })

  it('refuses the installed serial naming another version', async () => {
    await assert.rejects(
      decide(input({pointer: pointer(manifest({serial: 5, version: V1}))})),
      /serial 5 now names a different version than the one installed; refused/,
    )
  })

  it('accepts the installed serial with the installed version (nothing new)', async () => {
    const verdict = await decide(input({pointer: pointer(manifest({serial: 5, version: V2}))}))
    assert.equal(verdict.action, 'install')
    assert.equal(verdict.manifest?.version, V2)
  })

  it('accepts a lower serial with allowDowngrade', async () => {
    const verdict = await decide(input({allowDowngrade: true, pointer: pointer(manifest({serial: 4, version: V1}))}))
    assert.equal(verdict.action, 'install')
    assert.equal(verdict.manifest?.serial, 4)
  })

  it('has no floor on a node that never accepted a manifest', async () => {
    const verdict = await decide(input({pointer: pointer(manifest({serial: 1})), state: {}}))
    assert.equal(verdict.action, 'install')
  })
})

describe('trust: expiry', () => {
  it('does not install a new manifest that has expired', async () => {
    const verdict = await decide(input({pointer: pointer(manifest({expires: PAST, serial: 6}))}))
    assert.equal(verdict.action, 'expired')
    assert.ok(verdict.expired instanceof ExpiredError)
    assert.match(
      verdict.expired.message,
      /production: the newest manifest \(serial 6\) expired at 2026-06-01T11:00:00.000Z; keeping the installed release/,
    )
  })

  it('installs a manifest that expires later', async () => {
    const verdict = await decide(input({pointer: pointer(manifest({expires: FUTURE, serial: 6}))}))
    assert.equal(verdict.action, 'install')
    assert.equal(verdict.expired, undefined)
  })

  it('remembers the expiry while the pointer is unchanged', async () => {
    const expired = await decide(
      input({pointer: {notModified: true}, state: {etag: '"e"', expires: PAST, serial: 5, version: V2}}),
    )
    assert.equal(expired.action, 'expired')
    assert.match(expired.expired!.message, /the newest manifest \(serial 5\) expired at 2026-06-01T11:00:00.000Z/)
    const fresh = await decide(
      input({pointer: {notModified: true}, state: {etag: '"e"', expires: FUTURE, serial: 5, version: V2}}),
    )
    assert.deepEqual(fresh, {action: 'keep', pin: 'none'})
  })

  it('takes the time from the clock it is given', async () => {
    const verdict = await decide(
      input({now: new Date('2026-06-01T10:30:00.000Z'), pointer: pointer(manifest({expires: PAST, serial: 6}))}),
    )
    assert.equal(verdict.action, 'install')
  })
})

/** A format-2 pointer, as push writes one for a format-2 feature. */
const pointer2 = (fields: Partial<Manifest>, signers?: TrustedKeyFile[]) =>
  pointer(manifest({format: 2, ...fields}), {payloadType: manifestPayloadType(2), signers})

describe('trust: channels', () => {
  it('installs a manifest of the channel the node follows', async () => {
    const verdict = await decide(input({channel: 'canary', pointer: pointer2({channel: 'canary', serial: 6})}))
    assert.equal(verdict.action, 'install')
  })

  it('refuses a canary manifest served on the stable pointer', async () => {
    await assert.rejects(decide(input({pointer: pointer2({channel: 'canary', serial: 6})})), {
      message: 'manifest is signed for channel canary of production, but this node follows channel stable; refused',
      name: VerificationError.name,
    })
  })

  it('refuses a stable manifest (one that names no channel) on a canary node', async () => {
    await assert.rejects(
      decide(input({channel: 'canary', pointer: pointer(manifest({serial: 6}))})),
      /signed for channel stable of production, but this node follows channel canary; refused/,
    )
  })

  it('refuses a format-1 manifest that names a channel', async () => {
    await assert.rejects(decide(input({pointer: pointer({...manifest({serial: 6}), channel: 'canary'})})), {
      message: /invalid manifest/,
    })
  })
})

/** Node ids inside and outside the cohort of `version` at `percent`. */
function nodeIds(version: string, percent: number): {inside: string; outside: string} {
  const ids = Array.from({length: 200}, (_, index) => `node-${index}`)
  return {
    inside: ids.find((id) => cohortPlace(version, id) < percent / 100)!,
    outside: ids.find((id) => cohortPlace(version, id) >= percent / 100)!,
  }
}

describe('trust: phased rollout', () => {
  const ids = nodeIds(V1, 30)
  const rollout = {percent: 30, previous: {serial: 5, version: V2}}

  it('installs on a node in the cohort', async () => {
    const verdict = await decide(input({pointer: pointer2({rollout, serial: 6}), rolloutId: () => ids.inside}))
    assert.equal(verdict.action, 'install')
  })

  it('defers on a node outside the cohort: it keeps its release, logs it and remembers the new expiry', async () => {
    const asked = input({pointer: pointer2({expires: FUTURE, rollout, serial: 6}), rolloutId: () => ids.outside})
    const verdict = await decide(asked)
    assert.equal(verdict.action, 'defer')
    assert.equal(verdict.etag, '"new-etag"')
    assert.equal(verdict.watchExpires, FUTURE)
    assert.match(
      asked.logged.join('\n'),
      /rolls out to 30 % of nodes and this node is not among them yet; keeping serial 5/,
    )
  })

  it('is never expired while deferred on the named previous release, even when its own manifest expired', async () => {
    const state = {etag: '"old"', expires: PAST, serial: 5, version: V2}
    const verdict = await decide(input({pointer: pointer2({rollout, serial: 6}), rolloutId: () => ids.outside, state}))
    assert.equal(verdict.action, 'defer')
    assert.equal(verdict.watchExpires, null)
    const unchanged = await decide(input({pointer: {notModified: true}, state: {...state, expires: null}}))
    assert.equal(unchanged.action, 'keep')
  })

  it('counts its own expiry when deferred on a release other than the named previous one', async () => {
    const state = {etag: '"old"', expires: PAST, serial: 4, version: V3}
    const verdict = await decide(input({pointer: pointer2({rollout, serial: 6}), rolloutId: () => ids.outside, state}))
    assert.equal(verdict.action, 'expired')
  })

  it('halts at 0 %: a node with no release is sent to the previous release; one on the version stays', async () => {
    const halted = {...rollout, percent: 0}
    const asked = (state: EnvironmentState) =>
      decide(
        input({pointer: pointer2({expires: FUTURE, rollout: halted, serial: 6}), rolloutId: () => ids.inside, state}),
      )
    assert.equal((await asked({etag: '"e"', serial: 5, version: V2})).action, 'defer')
    const fresh = await asked({})
    assert.deepEqual([fresh.action, fresh.previous, fresh.watchExpires], ['defer', rollout.previous, FUTURE])
    assert.equal((await asked({serial: 6, version: V1})).action, 'install')
  })

  it('installs on a node with no release when it is in the cohort', async () => {
    const verdict = await decide(
      input({pointer: pointer2({rollout, serial: 6}), rolloutId: () => ids.inside, state: {}}),
    )
    assert.equal(verdict.action, 'install')
  })

  it('refuses a node with no release outside the cohort when the rollout names no previous release', async () => {
    const first = {percent: 0, previous: null}
    const asked = input({pointer: pointer2({rollout: first, serial: 1}), rolloutId: () => ids.inside, state: {}})
    await assert.rejects(decide(asked), (error: unknown) => {
      assert.ok(error instanceof HeldBackError)
      assert.match(error.message, /names no earlier release to install instead/)
      return true
    })
  })

  describe('the previous release of a node with no release', () => {
    const halted = {percent: 0, previous: {serial: 5, version: V2}}
    const newest = async () =>
      decide(input({pointer: pointer2({expires: FUTURE, rollout: halted, serial: 6}), state: {}, rolloutId: () => 'n'}))

    it('installs it from its own signed manifest, watching the newest expiry, even when its own expired', async () => {
      const verdict = await newest()
      const previous = pointer(manifest({expires: PAST, serial: 5, version: V2}))
      const chosen = await decidePrevious(
        {...input({state: {}}), pointer: previous},
        {...verdict, previous: halted.previous},
      )
      assert.deepEqual([chosen.action, chosen.manifest?.serial, chosen.manifest?.version], ['install', 5, V2])
      assert.deepEqual([chosen.etag, chosen.watchExpires], ['"new-etag"', FUTURE])
    })

    it('refuses it when it is not signed by a trusted key, or not the serial and version named', async () => {
      const verdict = {...(await newest()), previous: halted.previous}
      const asked = (stored: PointerEnvelope) => decidePrevious({...input({state: {}}), pointer: stored}, verdict)
      await assert.rejects(asked(pointer(manifest({serial: 5, version: V2}), {signers: [STRANGER]})), VerificationError)
      await assert.rejects(
        asked(pointer(manifest({serial: 5, version: V3}))),
        /not the release the newest manifest names/,
      )
      await assert.rejects(asked(pointer(manifest({environment: 'staging', serial: 5, version: V2}))), /staging/)
    })
  })

  it('does not ask for the node id when nothing phases', async () => {
    const verdict = await decide(
      input({
        pointer: pointer(manifest({serial: 6})),
        rolloutId: () => {
          throw new Error('asked')
        },
      }),
    )
    assert.equal(verdict.action, 'install')
  })
})

const CI_KEY: TrustedKeyFile = {file: 'ci.asc', text: 'the CI key'}
const RELEASE_KEY: TrustedKeyFile = {file: 'release.asc', text: 'the release key'}

describe('trust: channel keys and signature threshold', () => {
  const channelKeys = {canary: [CI_KEY, RELEASE_KEY], stable: [RELEASE_KEY]}

  it('refuses a CI-key signature on stable when channel_keys names only the release key for stable', async () => {
    await assert.rejects(
      decide(input({keys: keys({channelKeys}), pointer: pointer(manifest({serial: 6}), {signers: [CI_KEY]})})),
      {
        message: /no valid signature by a trusted key of channel stable \(general\.channel_keys\.stable\)/,
        name: VerificationError.name,
      },
    )
    const released = await decide(
      input({keys: keys({channelKeys}), pointer: pointer(manifest({serial: 6}), {signers: [RELEASE_KEY]})}),
    )
    assert.equal(released.action, 'install')
  })

  it('accepts the CI key on canary, and ignores general.trusted_keys for a listed channel', async () => {
    const canary = (signers: TrustedKeyFile[]) =>
      decide(
        input({
          channel: 'canary',
          keys: keys({channelKeys}),
          pointer: pointer2({channel: 'canary', serial: 6}, signers),
        }),
      )
    assert.equal((await canary([CI_KEY])).action, 'install')
    await assert.rejects(canary([TRUSTED]), /no valid signature by a trusted key of channel canary/)
  })

  it('uses general.trusted_keys for a channel channel_keys does not list', async () => {
    const verdict = await decide(
      input({channel: 'beta', keys: keys({channelKeys}), pointer: pointer2({channel: 'beta', serial: 6})}),
    )
    assert.equal(verdict.action, 'install')
  })

  it('refuses one signature with threshold 2, also the same key twice, and accepts two distinct keys', async () => {
    const two = keys({threshold: 2, trusted: [TRUSTED, RELEASE_KEY]})
    await assert.rejects(decide(input({keys: two, pointer: pointer(manifest({serial: 6}))})), {
      message: /signed by 1 trusted key\(s\), but general\.signature_threshold requires 2 distinct keys; refused/,
      name: VerificationError.name,
    })
    await assert.rejects(
      decide(input({keys: two, pointer: pointer(manifest({serial: 6}), {signers: [TRUSTED, TRUSTED]})})),
      /requires 2 distinct keys/,
    )
    await assert.rejects(
      decide(input({keys: two, pointer: pointer(manifest({serial: 6}), {signers: [TRUSTED, STRANGER]})})),
      /requires 2 distinct keys/,
    )
    const verdict = await decide(
      input({keys: two, pointer: pointer(manifest({serial: 6}), {signers: [STRANGER, TRUSTED, RELEASE_KEY]})}),
    )
    assert.equal(verdict.action, 'install')
  })
})

describe('trust: rollback pins', () => {
  const pin = {at: '2026-06-01T09:00:00.000Z', from: V2, serial: 5, version: V1}

  it('keeps the pin when the store signs the pinned version again', async () => {
    const asked = input({pointer: pointer(manifest({serial: 6, version: V1})), state: pinnedOn(pin)})
    const verdict = await decide(asked)
    assert.equal(verdict.action, 'keep')
    assert.equal(verdict.pin, 'kept')
    assert.equal(verdict.etag, '"new-etag"', 'the pointer read is remembered for the next conditional read')
    assert.match(asked.logged.join('\n'), /serial 6 signs the pinned version again; the pin on 111111111111 stays/)
  })

  it('keeps the pin when the version rolled back from is re-signed (push --refresh)', async () => {
    const asked = input({pointer: pointer(manifest({serial: 6, version: V2})), state: pinnedOn(pin)})
    const verdict = await decide(asked)
    assert.equal(verdict.pin, 'kept')
    assert.match(asked.logged.join('\n'), /serial 6 signs 222222222222 \(the version rolled back from\) again/)
  })

  it('keeps the pin while the serial is not above the pinned one, whatever it names', async () => {
    const same = await decide(input({pointer: pointer(manifest({serial: 5, version: V2})), state: pinnedOn(pin)}))
    assert.equal(same.action, 'keep')
    assert.equal(same.pin, 'kept')
    const older = await decide(
      input({allowDowngrade: true, pointer: pointer(manifest({serial: 4, version: V3})), state: pinnedOn(pin)}),
    )
    assert.equal(older.action, 'keep')
    assert.equal(older.pin, 'kept')
  })

  it('lifts the pin for a genuinely new release', async () => {
    const asked = input({pointer: pointer(manifest({serial: 6, version: V3})), state: pinnedOn(pin)})
    const verdict = await decide(asked)
    assert.equal(verdict.action, 'install')
    assert.equal(verdict.pin, 'lifted')
    assert.match(
      asked.logged.join('\n'),
      /serial 6 is a new release \(333333333333\); the pin on 111111111111 \(serial 5\) is lifted/,
    )
  })

  it('takes the accepted version as "from" for pins written before "from" existed', async () => {
    const old = {at: pin.at, serial: 5, version: V1}
    assert.equal(
      (await decide(input({pointer: pointer(manifest({serial: 6, version: V2})), state: pinnedOn(old)}))).pin,
      'kept',
    )
    assert.equal(
      (await decide(input({pointer: pointer(manifest({serial: 6, version: V3})), state: pinnedOn(old)}))).pin,
      'lifted',
    )
  })

  it('keeps the pin, and reports the expiry, when the new manifest has expired', async () => {
    const verdict = await decide(
      input({pointer: pointer(manifest({expires: PAST, serial: 6, version: V3})), state: pinnedOn(pin)}),
    )
    assert.equal(verdict.action, 'expired')
    assert.equal(verdict.pin, 'kept')
  })

  it('ignores a remembered expiry while pinned: the pinned release is older on purpose', async () => {
    const verdict = await decide(input({pointer: {notModified: true}, state: {...pinnedOn(pin), expires: PAST}}))
    assert.deepEqual(verdict, {action: 'keep', pin: 'kept'})
  })
})
