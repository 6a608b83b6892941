#!/usr/bin/env bash
# How fast pupistry pushes and applies a large artifact through S3, against
# Debian's `aws s3 cp` moving the same file to and from the same server in the
# same run, with peak memory. The server is s3rver on 127.0.0.1 (so figures
# measure the clients, not a network). Prints figures; never fails on
# slowness, only when a command itself fails.
#
#   bench/s3-transfer.sh
#
# Environment:
#   BENCH_S3_MB    artifact size in MB (default 200; incompressible content)
#   BENCH_S3_RUNS  timed runs of each transfer (default 3; the median counts)
#   TMPDIR         where the artifact, the server's objects and the releases go
#                  (needs ~5x BENCH_S3_MB)
#
# apply runs with agent.puppet set to /bin/true: the figure is download,
# verification, unpacking and activation, without a Puppet catalog.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lib=$repo/bench/lib
size_mb=${BENCH_S3_MB:-200}
runs=${BENCH_S3_RUNS:-3}
aws=/usr/bin/aws

die() { echo "s3-transfer: $*" >&2; exit 1; }
[[ $size_mb =~ ^[0-9]+$ ]] && ((size_mb >= 1)) || die "BENCH_S3_MB must be a whole number of MB (got '$size_mb')"
[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1)) || die "BENCH_S3_RUNS must be a positive whole number (got '$runs')"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing: apt-get install time"
[[ -x $aws ]] || die "$aws is missing: apt-get install awscli (or run scripts/ensure-tools.sh --tests)"
[[ -f $repo/dist/artifact/pack.js ]] || die "dist/ is missing: run 'npm run build' in $repo first"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pupistry-bench-s3.XXXXXX")
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "$((10#$t))"; }
peak_rss_kb() { awk -F': *' '/Maximum resident set size/ {print $2}' "$1"; }
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) printf "%.0f\n", v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
json_field() { node -e 'process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))' "$1" "$2"; }

echo "== S3 transfer: a ${size_mb} MB artifact through s3rver on 127.0.0.1, pupistry against aws s3 cp"
mkdir -p "$tmp/objects"
node "$lib/s3-server.mjs" "$tmp/objects" bench >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do [[ -s $tmp/server.out ]] && break; sleep 0.1; done
endpoint=$(head -n 1 "$tmp/server.out")
[[ $endpoint == http://127.0.0.1:* ]] || die "the S3 server did not start: $(cat "$tmp/server.err")"

staged=$(node "$lib/stage-artifact.mjs" "$tmp/cache" production "$size_mb" "$tmp")
artifact=$(json_field "$staged" file)
bytes=$(json_field "$staged" size)
printf 'artifact: %s bytes (%s files)\n' "$bytes" "$(json_field "$staged" files)"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=1
pupistry=(node "$repo/bin/run.js")
(cd "$tmp" && "${pupistry[@]}" keys generate --dir "$tmp/keys" --user-id "bench <bench@example.invalid>" >/dev/null)

settings() { # RUN → a settings file whose store and node directories are the run's own
  local file=$tmp/settings-$1.yaml
  cat >"$file" <<YAML
general:
  app_cache: $tmp/cache
  storage: s3://bench/run-$1
  s3_endpoint: $endpoint
  signing_key_file: $tmp/keys/pupistry-signing.secret.asc
  trusted_keys: [$tmp/keys/pupistry-signing.public.asc]
build:
  access_key_id: S3RVER
  secret_access_key: S3RVER
agent:
  access_key_id: S3RVER
  secret_access_key: S3RVER
  puppet: /bin/true
  puppetcode: $tmp/node-$1/code/environments
YAML
  echo "$file"
}

timed() { # NAME COMMAND... → appends wall µs and peak RSS kB to $tmp/NAME.{wall,rss}
  local name=$1 t0
  shift
  t0=$(now_us)
  /usr/bin/time -v -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>&1 || { cat "$tmp/$name.out" >&2; die "$name failed"; }
  echo $(($(now_us) - t0)) >>"$tmp/$name.wall"
  peak_rss_kb "$tmp/$name.time" >>"$tmp/$name.rss"
}

for run in $(seq "$runs"); do
  file=$(settings "$run")
  timed push "${pupistry[@]}" push --config "$file"
  timed aws-up "$aws" --endpoint-url "$endpoint" s3 cp --only-show-errors "$artifact" "s3://bench/baseline-$run/artifact.tar.gz"
  # The node keeps its state in the run's own cache: a first apply each time.
  sed -i "s|app_cache: $tmp/cache|app_cache: $tmp/node-$run/cache|" "$file"
  timed apply "${pupistry[@]}" apply --config "$file"
  timed aws-down "$aws" --endpoint-url "$endpoint" s3 cp --only-show-errors "s3://bench/baseline-$run/artifact.tar.gz" "$tmp/down-$run.tar.gz"
  rm -rf "$tmp/down-$run.tar.gz" "$tmp/node-$run"
done

report() { # NAME LABEL
  local wall rss
  wall=$(median <"$tmp/$1.wall")
  rss=$(sort -n "$tmp/$1.rss" | tail -n 1)
  printf '%-34s %8.2f s  %8.1f MB/s  peak RSS %6.1f MB\n' "$2" "$(awk -v us="$wall" 'BEGIN {print us / 1e6}')" \
    "$(awk -v b="$bytes" -v us="$wall" 'BEGIN {print b / 1048576 / (us / 1e6)}')" "$(awk -v kb="$rss" 'BEGIN {print kb / 1024}')"
}
echo "median of $runs run(s); peak RSS is the highest of the runs"
report push 'pupistry push (sign + upload)'
report aws-up 'aws s3 cp (upload)'
report apply 'pupistry apply (download+unpack)'
report aws-down 'aws s3 cp (download)'
ratio() { awk -v a="$(median <"$tmp/$1.wall")" -v b="$(median <"$tmp/$2.wall")" 'BEGIN {printf "%.2f", a / b}'; }
echo "push / aws upload: $(ratio push aws-up)x   apply / aws download: $(ratio apply aws-down)x (apply also unpacks and activates)"
