#!/usr/bin/env bash
# Everything `npm test` needs on a fresh clone: system tools, dependencies, a build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh --tests
[ -f node_modules/.package-lock.json ] || npm ci --no-audit --no-fund
npm run build --silent
