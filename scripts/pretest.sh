#!/usr/bin/env bash
# Everything `npm test` needs on a fresh clone: system tools, dependencies, a build, type-checked tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh --tests
[ -f node_modules/.package-lock.json ] || npm ci --no-audit --no-fund
# Formatting and lint first: they take a second and catch what a review would.
npx biome ci .
npm run build --silent
# The tests are TypeScript too: a type error there is a broken test, not a runtime surprise.
npx tsc -p tsconfig.test.json
# Biome cannot break long strings or comments: no line over 140 characters.
node scripts/check-line-length.mjs
