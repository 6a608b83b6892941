import * as v from 'valibot'

import {SEALED_INDEX_KEY_PATTERN} from './layout.js'

/**
 * Format 2 member of sealed hiera (build.hieracrypt): the signed index of
 * the environment's encrypted hiera data, bound by key, SHA-256 and size.
 */
export const SEALED_MEMBER = {
  sealed: v.optional(
    v.strictObject({
      index: v.strictObject({
        key: v.pipe(v.string(), v.regex(SEALED_INDEX_KEY_PATTERN)),
        sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'expected a lower-case hex SHA-256')),
        size: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
      }),
    }),
  ),
}

export type SealedIndexRef = NonNullable<v.InferOutput<(typeof SEALED_MEMBER)['sealed']>>['index']
