#!/usr/bin/env bash
# How fast pupistry packs an environment, against `tar -cf - DIR | gzip -6`
# on the same tree, and whether the packer's memory stays flat as the tree
# grows. Prints figures and targets; never fails on slowness, only when a
# command itself fails.
#
#   bench/build-throughput.sh
#
# Environment:
#   BENCH_TREE_MB    size of the generated tree in MB (default 200); a second
#                    tree of half that size shows how memory grows
#   BENCH_PACK_RUNS  timed runs of each packer (default 3; the median counts)
#   TMPDIR           where the trees and archives go (needs ~2.5x BENCH_TREE_MB)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lib=$repo/bench/lib
tree_mb=${BENCH_TREE_MB:-200}
runs=${BENCH_PACK_RUNS:-3}

die() { echo "build-throughput: $*" >&2; exit 1; }

if [[ ! $tree_mb =~ ^[0-9]+$ ]] || ((tree_mb < 2)); then
  die "BENCH_TREE_MB must be a whole number of MB, at least 2 (got '$tree_mb')"
fi
if [[ ! $runs =~ ^[0-9]+$ ]] || ((runs < 1)); then
  die "BENCH_PACK_RUNS must be a positive whole number (got '$runs')"
fi
half_mb=$((tree_mb / 2))

# Peak RSS comes from GNU time; install it on Debian if it is missing.
if [[ ! -x /usr/bin/time ]]; then
  ((EUID == 0)) || die "/usr/bin/time is missing: apt-get install time (as root)"
  echo "installing GNU time (apt-get install -y time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q time >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; }
fi
for tool in node tar gzip; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -f $repo/dist/artifact/pack.js ]] || die "dist/ is missing: run 'npm run build' in $repo first"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pupistry-bench-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "$((10#$t))"; }
peak_rss_kb() { awk -F': *' '/Maximum resident set size/ {print $2}' "$1"; }
json_field() { node -e 'process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))' "$1" "$2"; }
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) printf "%.0f\n", v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
max() { sort -n | tail -n 1; }
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }

# --- trees
echo "== build throughput: packing a ${tree_mb} MB Puppet-like tree"
started=$(now_us)
full_info=$(node "$lib/make-tree.mjs" "$tmp/tree-full" "$tree_mb")
half_info=$(node "$lib/make-tree.mjs" "$tmp/tree-half" "$half_mb")
gen_s=$(awk -v us="$(($(now_us) - started))" 'BEGIN {printf "%.1f", us / 1e6}')
full_bytes=$(json_field "$full_info" bytes)
half_bytes=$(json_field "$half_info" bytes)
printf 'tree: %s MB in %s files (%s small of 1-20 KB text, %s large of 1-10 MB base64)\n' \
  "$(mb "$full_bytes")" "$(json_field "$full_info" files)" "$(json_field "$full_info" smallFiles)" "$(json_field "$full_info" largeFiles)"
printf 'half: %s MB in %s files; both generated in %s s (deterministic: same size, same bytes)\n' \
  "$(mb "$half_bytes")" "$(json_field "$half_info" files)" "$gen_s"

# --- timed runs; the methods take turns so drift on the machine hits all of them
: >"$tmp/tar.wall" ; : >"$tmp/tar.rss" ; : >"$tmp/full.wall" ; : >"$tmp/full.rss" ; : >"$tmp/half.wall" ; : >"$tmp/half.rss"
: >"$tmp/full.pack" ; : >"$tmp/half.pack"

run_tar() {
  local t0 t1
  t0=$(now_us)
  /usr/bin/time -v -o "$tmp/tar.time" tar -C "$tmp/tree-full" -cf - . |
    /usr/bin/time -v -o "$tmp/gzip.time" gzip -6 >"$tmp/out-tar.tar.gz"
  t1=$(now_us)
  echo $((t1 - t0)) >>"$tmp/tar.wall"
  # Both processes run at once: the pipeline's peak is the sum of the two.
  echo $(($(peak_rss_kb "$tmp/tar.time") + $(peak_rss_kb "$tmp/gzip.time"))) >>"$tmp/tar.rss"
}

run_pupistry() { # run_pupistry full|half
  local t0 t1 result
  t0=$(now_us)
  result=$(/usr/bin/time -v -o "$tmp/$1.time" node "$lib/pack-tree.mjs" "$tmp/tree-$1" "$tmp/out-$1.tar.gz")
  t1=$(now_us)
  echo $((t1 - t0)) >>"$tmp/$1.wall"
  peak_rss_kb "$tmp/$1.time" >>"$tmp/$1.rss"
  echo "$result" >"$tmp/$1.result"
  awk -v ms="$(json_field "$result" packMs)" 'BEGIN {printf "%d\n", ms * 1000}' >>"$tmp/$1.pack"
}

read -r load _ </proc/loadavg
echo "machine: $(nproc) CPUs, load average $load before timing (other work on the machine shows in the figures)"
for ((run = 1; run <= runs; run++)); do
  printf 'run %d/%d: tar|gzip' "$run" "$runs"
  run_tar
  printf ', pupistry (full)'
  run_pupistry full
  printf ', pupistry (half)'
  run_pupistry half
  printf '\n'
done

read -r load _ </proc/loadavg
echo "load average $load after timing"

# --- figures
tar_us=$(median <"$tmp/tar.wall")
full_us=$(median <"$tmp/full.wall")
half_us=$(median <"$tmp/half.wall")
full_pack_us=$(median <"$tmp/full.pack")
tar_rss=$(max <"$tmp/tar.rss")
full_rss=$(max <"$tmp/full.rss")
half_rss=$(max <"$tmp/half.rss")
tar_out=$(stat -c %s "$tmp/out-tar.tar.gz")
full_out=$(json_field "$(cat "$tmp/full.result")" size)
half_out=$(json_field "$(cat "$tmp/half.result")" size)

row() { # row LABEL BYTES WALL_US RSS_KB OUT_BYTES
  awk -v label="$1" -v bytes="$2" -v us="$3" -v rss="$4" -v out="$5" 'BEGIN {
    printf "%-28s %8.2f s %9.1f MB/s %9.1f MB %10.1f MB\n", label, us / 1e6, bytes / 1048576 / (us / 1e6), rss / 1024, out / 1048576
  }'
}

echo
printf '%-28s %10s %14s %12s %13s\n' "method (median of $runs)" "wall" "throughput" "peak RSS" "archive"
row "tar -cf - | gzip -6" "$full_bytes" "$tar_us" "$tar_rss" "$tar_out"
row "pupistry packTree" "$full_bytes" "$full_us" "$full_rss" "$full_out"
row "pupistry packTree (half)" "$half_bytes" "$half_us" "$half_rss" "$half_out"
echo
echo "peak RSS of tar|gzip is tar's plus gzip's; pupistry's is the whole node process (Node itself included)."
awk -v us="$full_pack_us" -v bytes="$full_bytes" 'BEGIN {
  printf "pupistry packTree alone (without Node start-up): %.2f s, %.1f MB/s\n", us / 1e6, bytes / 1048576 / (us / 1e6)
}'
echo "pupistry artifact sha256 (same BENCH_TREE_MB, same hash): $(json_field "$(cat "$tmp/full.result")" sha256)"
echo
awk -v p="$full_us" -v t="$tar_us" -v full="$full_rss" -v half="$half_rss" 'BEGIN {
  ratio = p / t
  printf "time  pupistry / tar|gzip     %5.2fx   target <= 1x            %s\n", ratio, (ratio <= 1 ? "met" : "NOT met")
  printf "RSS   pupistry, full tree  %6.1f MB   target < 150 MB         %s\n", full / 1024, (full / 1024 < 150 ? "met" : "NOT met")
  growth = full / half
  printf "RSS   full / half tree      %5.2fx   target flat (<= 1.1x)   %s   (%+.1f MB for twice the tree)\n", growth, (growth <= 1.1 ? "met" : "NOT met"), (full - half) / 1024
}'
