#!/usr/bin/env bash
# r10k, g10k and the native assembler on the same generated control repos in
# the same run: 10, 50 and 200 git modules (every 4th floating on a branch)
# and one with 20 Forge modules (served by a Forge API on 127.0.0.1), each
# cold (empty caches) and warm (again, nothing changed). Prints wall times,
# peak RSS, the ratios and the targets. Never fails on slowness, only when a
# tool fails.
#
#   bench/assemblers.sh
#
# Environment:
#   BENCH_ASSEMBLER_SIZES  git module counts (default "10 50 200")
#   BENCH_FORGE_MODULES    Forge modules in the Forge repo (default 20; 0 skips it)
#   BENCH_RUNS             rounds of all three tools per repo (default 1); the table shows medians
#   TMPDIR                 where repos, caches and environments go
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "assemblers: $*" >&2; exit 1; }

[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing: apt-get install time"
for tool in node git r10k g10k; do
  command -v "$tool" >/dev/null || die "$tool is not installed (bash scripts/ensure-tools.sh --bench installs r10k and g10k)"
done
[[ -f $repo/plugins/native/dist/native-assembler.js ]] || die "plugins/native/dist is missing: run 'npm run build' in $repo first"
[[ -d $repo/node_modules/tsx ]] || die "tsx is missing: run 'npm ci' in $repo first"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pupistry-bench-assemblers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== assemblers: r10k $(r10k version | awk '{print $2}'), g10k $(dpkg-query -W -f '${Version}' g10k 2>/dev/null || echo '?'), native (git $(git --version | awk '{print $3}')), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
cd "$repo"
node --import tsx "$repo/bench/lib/assemblers.mjs" "$tmp"
