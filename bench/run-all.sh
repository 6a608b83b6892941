#!/usr/bin/env bash
# Runs every benchmark in turn and prints their figures (npm run bench).
# All always run; the exit code is non-zero if any failed to run, never
# because a figure missed its target.
#
#   bench/run-all.sh
#
# The benchmarks' own settings (BENCH_RUNS, BENCH_WARMUP, BENCH_TIMER,
# BENCH_TREE_MB, BENCH_PACK_RUNS, BENCH_S3_MB, BENCH_S3_RUNS) pass through; see bench/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
failed=()

commit=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "pupistry benchmarks: commit $commit$(git -C "$here/.." diff --quiet HEAD 2>/dev/null || echo ' (with local changes)'), node $(node --version), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo

for bench in apply-nochange build-throughput s3-transfer; do
  echo "### $bench"
  if ! bash "$here/$bench.sh"; then
    failed+=("$bench")
  fi
  echo
done

if ((${#failed[@]} > 0)); then
  echo "failed to run: ${failed[*]}" >&2
  exit 1
fi
