#!/usr/bin/env bash
# What a node's check costs when nothing is new: `pupistry apply --minimal`
# after a build, push and apply, against Node's own start-up, the CLI's
# start-up (--version) and a warm r10k deploy of the same control repo.
# Prints medians, ratios and targets; never fails on slowness, only when a
# command itself fails.
#
#   bench/apply-nochange.sh
#
# Environment:
#   BENCH_RUNS    timed runs per command (default 20, at least 15)
#   BENCH_WARMUP  untimed runs before them (default 3)
#   BENCH_TIMER   hyperfine | loop | auto (default: hyperfine when installed)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-20}
warmup=${BENCH_WARMUP:-3}
timer=${BENCH_TIMER:-auto}

die() { echo "apply-nochange: $*" >&2; exit 1; }

if [[ ! $runs =~ ^[0-9]+$ ]] || [[ ! $warmup =~ ^[0-9]+$ ]]; then
  die "BENCH_RUNS and BENCH_WARMUP must be whole numbers"
fi
if ((runs < 15)); then
  echo "BENCH_RUNS=$runs is too few for a stable median: using 15"
  runs=15
fi
case $timer in
  auto) if command -v hyperfine >/dev/null; then timer=hyperfine; else timer=loop; fi ;;
  hyperfine) command -v hyperfine >/dev/null || die "BENCH_TIMER=hyperfine but hyperfine is not installed (apt-get install hyperfine)" ;;
  loop) ;;
  *) die "BENCH_TIMER must be hyperfine, loop or auto (got '$timer')" ;;
esac

# Peak RSS comes from GNU time; install it on Debian if it is missing.
if [[ ! -x /usr/bin/time ]]; then
  ((EUID == 0)) || die "/usr/bin/time is missing: apt-get install time (as root)"
  echo "installing GNU time (apt-get install -y time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q time >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; }
fi
for tool in node git r10k puppet; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ -f $repo/dist/commands/apply.js ]] || die "dist/ is missing: run 'npm run build' in $repo first"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pupistry-bench-apply.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pupistry=$repo/bin/run.js
settings=$tmp/settings.yaml

quietly() { # quietly WHAT CMD...: run CMD, showing its output only if it fails
  local what=$1
  shift
  "$@" >"$tmp/step.log" 2>&1 || { cat "$tmp/step.log" >&2; die "$what failed"; }
}

# --- a node and a build box in one temp dir: fixture repos, keys, settings,
# one build, push and apply, so the next apply has nothing new to do.
echo "== apply with nothing new: setting up in $tmp"
quietly "making the fixture repos" bash "$repo/test/fixtures/make-control-repo.sh" "$tmp/repos" "$tmp/target"
mkdir -p "$tmp/store"
quietly "pupistry keys generate" "$pupistry" keys generate --dir "$tmp/keys"
cat >"$settings" <<YAML
general:
  app_cache: $tmp/cache
  storage: $tmp/store
  signing_key_file: $tmp/keys/pupistry-signing.secret.asc
  trusted_keys: $tmp/keys/pupistry-signing.public.asc
agent:
  puppetcode: $tmp/code/environments
build:
  puppetcode: $tmp/repos/control.git
YAML
quietly "pupistry build" "$pupistry" build --config "$settings" -e production
quietly "pupistry push" "$pupistry" push --config "$settings"
quietly "pupistry apply" "$pupistry" apply --config "$settings"
quietly "pupistry apply --minimal" "$pupistry" apply --config "$settings" --minimal
echo "check: $(tail -n 1 "$tmp/step.log")"

# r10k on the same control repo, deployed once so the timed runs are warm.
cat >"$tmp/r10k.yaml" <<YAML
cachedir: $tmp/r10k/cache
sources:
  pupistry:
    remote: $tmp/repos/control.git
    basedir: $tmp/r10k/environments
YAML
quietly "r10k deploy (warm-up)" r10k deploy environment production --modules -c "$tmp/r10k.yaml"

# --- timing: one run time per line, in microseconds, in $tmp/NAME.us
names=(node version apply r10k)
command_of() { # command_of NAME: sets argv to the command measured as NAME
  case $1 in
    node) argv=(node -e 0) ;;
    version) argv=("$pupistry" --version) ;;
    apply) argv=("$pupistry" apply --config "$settings" --minimal) ;;
    r10k) argv=(r10k deploy environment production --modules -c "$tmp/r10k.yaml") ;;
  esac
}

now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "$((10#$t))"; }

run_once() { # run_once NAME: run NAME's command, output discarded, stopping on failure
  local argv
  command_of "$1"
  "${argv[@]}" >/dev/null 2>"$tmp/run.err" || { cat "$tmp/run.err" >&2; die "'${argv[*]}' failed"; }
}

# Rounds of one run of each command, so that a change of load on the machine
# during the benchmark hits every command alike and the ratios stay fair.
time_loop() {
  local name i t0 t1
  for name in "${names[@]}"; do
    : >"$tmp/$name.us"
  done
  for ((i = 0; i < warmup; i++)); do
    for name in "${names[@]}"; do run_once "$name"; done
  done
  for ((i = 0; i < runs; i++)); do
    for name in "${names[@]}"; do
      t0=$(now_us)
      run_once "$name"
      t1=$(now_us)
      echo $((t1 - t0)) >>"$tmp/$name.us"
    done
  done
}

time_hyperfine() {
  local name command argv
  for name in "${names[@]}"; do
    command_of "$name"
    command=$(printf '%q ' "${argv[@]}")
    hyperfine --shell=none --style none --warmup "$warmup" --runs "$runs" \
      --export-json "$tmp/$name.json" "$command" >/dev/null
    node -e 'for (const t of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results[0].times) console.log(Math.round(t * 1e6))' \
      "$tmp/$name.json" >"$tmp/$name.us"
  done
}

stats() { # stats NAME: "median min max" in ms
  sort -n "$tmp/$1.us" | awk '{v[NR] = $1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f %.1f %.1f\n", m / 1000, v[1] / 1000, v[NR] / 1000
  }'
}

peak_rss_mb() { # peak_rss_mb NAME: one run's peak RSS under GNU time
  local argv
  command_of "$1"
  /usr/bin/time -v -o "$tmp/rss.time" "${argv[@]}" >/dev/null 2>"$tmp/run.err" || { cat "$tmp/run.err" >&2; die "'${argv[*]}' failed"; }
  awk -F': *' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$tmp/rss.time"
}

read -r load _ </proc/loadavg
if [[ $timer == loop ]]; then
  echo "timing with a bash loop: $warmup warm-up + $runs timed rounds, each running every command once"
else
  echo "timing with hyperfine: $warmup warm-up + $runs timed runs per command"
fi
echo "machine: $(nproc) CPUs, load average $load before timing (other work on the machine shows in the figures)"
for name in "${names[@]}"; do
  command_of "$name"
  echo "  $name: ${argv[*]}"
done
"time_$timer"
read -r load _ </proc/loadavg
echo "load average $load after timing"

# --- figures
read -r node_ms node_min node_max < <(stats node)
read -r version_ms version_min version_max < <(stats version)
read -r apply_ms apply_min apply_max < <(stats apply)
read -r r10k_ms r10k_min r10k_max < <(stats r10k)
node_rss=$(peak_rss_mb node)
version_rss=$(peak_rss_mb version)
apply_rss=$(peak_rss_mb apply)
r10k_rss=$(peak_rss_mb r10k)

echo
printf '%-44s %10s %10s %10s %10s\n' "command ($runs timed runs)" "median" "min" "max" "peak RSS"
printf '%-44s %7s ms %7s ms %7s ms %7s MB\n' \
  "node -e 0" "$node_ms" "$node_min" "$node_max" "$node_rss" \
  "pupistry --version" "$version_ms" "$version_min" "$version_max" "$version_rss" \
  "pupistry apply --minimal (nothing new)" "$apply_ms" "$apply_min" "$apply_max" "$apply_rss" \
  "r10k deploy environment production (warm)" "$r10k_ms" "$r10k_min" "$r10k_max" "$r10k_rss"
echo
awk -v node="$node_ms" -v version="$version_ms" -v apply="$apply_ms" -v r10k="$r10k_ms" 'BEGIN {
  printf "apply --minimal / node -e 0     %5.2fx   target <= 2x  %s\n", apply / node, (apply / node <= 2 ? "met" : "NOT met")
  printf "apply --minimal / r10k (warm)   %5.2fx   (what an r10k-based masterless node runs before each puppet apply)\n", apply / r10k
  printf "pupistry --version / node -e 0  %5.2fx   target <= 2x  %s\n", version / node, (version / node <= 2 ? "met" : "NOT met")
  printf "apply --minimal - --version     %6.1f ms (the check beyond start-up: settings, providers, lock, pointer read)\n", apply - version
  print "(apply and --version are served without loading oclif: bin/run.js, src/cli/lean.ts, bundled in dist/agent-bundle/)"
}'
