import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {redactUrl} from '../src/util/redact.js'

describe('URLs in messages carry no secrets', () => {
  it('hides passwords and tokens in the user-info part', () => {
    assert.equal(
      redactUrl('https://ci:s3cret@git.example.com/ops/control.git'),
      'https://ci:***@git.example.com/ops/control.git',
    )
    assert.equal(redactUrl('https://ghp_token@git.example.com/x.git'), 'https://***@git.example.com/x.git')
  })

  it('hides query strings, where presigned and CDN URLs keep their signatures', () => {
    assert.equal(
      redactUrl(
        'https://bucket.example.com/pupistry/production/latest.json?X-Amz-Signature=abc123&X-Amz-Credential=AKIA',
      ),
      'https://bucket.example.com/pupistry/production/latest.json?***',
    )
    assert.equal(redactUrl('http://127.0.0.1:8080/a?token=t0k#frag'), 'http://127.0.0.1:8080/a?***#frag')
  })

  it('leaves URLs without secrets, and text that is not a URL, as they are', () => {
    assert.equal(redactUrl('s3://fleet/pupistry/'), 's3://fleet/pupistry/')
    assert.equal(redactUrl('/srv/pupistry?x'), '/srv/pupistry?x')
    assert.equal(redactUrl('git@github.example:ops/control.git'), 'git@github.example:ops/control.git')
  })
})
