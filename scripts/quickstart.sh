#!/usr/bin/env bash
# The quick start: installs what is missing, builds pupistry, then runs the
# whole job on a generated sample control repo with real r10k and Puppet:
# keys → build → diff → push (to a directory store) → apply → status → doctor.
# Everything it makes lives in ./demo (removed and made again on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/demo"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Installing missing system tools (puppet, r10k, git, gnupg)"
bash scripts/ensure-tools.sh

step "Installing dependencies and building pupistry"
[ -f node_modules/.package-lock.json ] || npm ci --no-audit --no-fund
npm run build --silent

rm -rf "$demo"
mkdir -p "$demo"
# Artifacts carry hiera data: the store is closed to other local users.
mkdir -m 0750 "$demo/store"
step "Generating a sample control repo (branches production, staging, feature-x) and module repos in demo/repos"
bash test/fixtures/make-control-repo.sh "$demo/repos" "$demo/target" >/dev/null

cat > "$demo/settings.yaml" <<YAML
general:
  app_cache: $demo/cache
  storage: file://$demo/store
  signing_key_file: $demo/keys/pupistry-signing.secret.asc
  trusted_keys:
    - $demo/keys/pupistry-signing.public.asc
agent:
  puppetcode: $demo/code/environments
  environment: production
build:
  puppetcode: file://$demo/repos/control.git
YAML
pupistry() { node "$root/bin/run.js" "$@" --config "$demo/settings.yaml"; }

step "pupistry keys generate"
pupistry keys generate --dir "$demo/keys" --user-id "pupistry demo <demo@example.invalid>"
step "pupistry build"
pupistry build
step "pupistry diff --stat"
pupistry diff --stat
step "pupistry push"
pupistry push
step "pupistry apply (verify, activate, puppet apply)"
pupistry apply
step "pupistry status"
pupistry status
step "pupistry doctor (settings, tools, keys and the store, as each side uses them)"
pupistry doctor

printf '\nPuppet wrote these files from the production environment:\n'
for file in "$demo"/target/*; do printf '  %s: %s\n' "$file" "$(cat "$file")"; done
printf '\nTry: node bin/run.js apply --minimal --config demo/settings.yaml   (nothing new: no Puppet run)\n'
