#!/bin/bash
# pupistry bootstrap: Debian 12: Puppet package, Node.js tarball
# Rendered by pupistry 3.0.0-alpha.1 (pupistry bootstrap --template debian-12) for environment production.
#
# Run as root on a fresh machine (cloud user-data, or by hand): installs Puppet,
# Node.js and pupistry 3.0.0-alpha.1, writes /etc/pupistry/settings.yaml and the trusted
# keys, installs the pupistry service, and runs the first `pupistry apply`.
# Running it again is safe. Everything it prints also goes to the system log,
# tagged pupistry-bootstrap.
#
# PUPISTRY_BOOTSTRAP_SKIP_PACKAGES=1 skips the package steps (Puppet, Node.js
# and pupistry itself), for images that already have them, and for tests.
set -euo pipefail
umask 022

if [ "$(id -u)" -ne 0 ]; then
  echo "pupistry-bootstrap: must run as root" >&2
  exit 1
fi

if [ -S /dev/log ] && command -v logger >/dev/null 2>&1; then
  exec > >(tee >(logger -t pupistry-bootstrap)) 2>&1
fi

export HOME="${HOME:-/root}"
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export npm_config_registry=https://npm.example.com/

pupistry_version=3.0.0-alpha.1
prefix=/opt/pupistry
pupistry_bin=/usr/local/bin/pupistry
settings_file=/etc/pupistry/settings.yaml
trusted_keys_dir=/etc/pupistry/trusted-keys
downloads=/var/cache/pupistry-bootstrap

log() { printf 'pupistry-bootstrap: %s\n' "$*"; }
die() {
  log "error: $*" >&2
  exit 1
}
trap 'log "failed at line $LINENO"' ERR

# put_file PATH MODE <CONTENT: replaces PATH atomically, and says whether it changed.
put_file() {
  local target=$1 mode=$2 tmp
  tmp=$(mktemp "$target.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$target" ] && command -v cmp >/dev/null 2>&1 && cmp -s "$tmp" "$target"; then
    rm -f "$tmp"
    chmod "$mode" "$target"
    log "unchanged: $target"
  else
    mv -f "$tmp" "$target"
    log "wrote $target"
  fi
}

# fetch_verified URL SHA256 FILE: downloads over https, keeps the file only if its SHA-256 matches.
fetch_verified() {
  local url=$1 sum=$2 file=$3
  mkdir -p "$downloads"
  chmod 0700 "$downloads"
  if [ -f "$file" ] && [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$sum" ]; then
    return 0
  fi
  log "downloading $url"
  curl -fsSL --retry 5 --proto '=https' -o "$file.part" "$url"
  if [ "$(sha256sum "$file.part" | cut -d' ' -f1)" != "$sum" ]; then
    rm -f "$file.part"
    die "$url does not have the SHA-256 the settings give ($sum); not installing it"
  fi
  mv -f "$file.part" "$file"
}

# node_ok NODE: true when that node runs and is version 20 or newer.
node_ok() {
  local major
  major=$("$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
  [ "$major" -ge 20 ]
}

# Debian 12: Puppet from the release's own package (or the repository in bootstrap.puppet_repos),
# Node.js from a tarball (its own is older than 20).

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

install_puppet() {
  log "installing Puppet"
  apt-get update -q
  apt_install ca-certificates curl xz-utils
  apt_install puppet-agent
}


# Node.js from a tarball the settings name for each architecture, checked against its SHA-256.
install_node() {
  local url sum arch
  arch=$(uname -m)
  case "$arch" in
    aarch64) url=https://mirror.example.com/node/v22.12.0/node-v22.12.0-linux-arm64.tar.xz sum=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb ;;
    x86_64) url=https://mirror.example.com/node/v22.12.0/node-v22.12.0-linux-x64.tar.xz sum=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ;;
    *) die "no Node.js tarball for $arch in the settings this script was rendered with" ;;
  esac
  if [ -f "$prefix/node/.sha256" ] && [ "$(cat "$prefix/node/.sha256")" = "$sum" ] && node_ok "$prefix/node/bin/node"; then
    log "Node.js from $url is installed"
  else
    fetch_verified "$url" "$sum" "$downloads/node-$sum.tar"
    rm -rf "$prefix/node.new" "$prefix/node.old"
    mkdir -p "$prefix/node.new"
    tar -xf "$downloads/node-$sum.tar" -C "$prefix/node.new" --strip-components=1 --no-same-owner
    node_ok "$prefix/node.new/bin/node" || die "the Node.js in $url does not run here, or is older than 20"
    echo "$sum" >"$prefix/node.new/.sha256"
    if [ -d "$prefix/node" ]; then mv "$prefix/node" "$prefix/node.old"; fi
    mv "$prefix/node.new" "$prefix/node"
    rm -rf "$prefix/node.old"
    log "installed Node.js $("$prefix/node/bin/node" --version)"
  fi
  ln -sfn "$prefix/node/bin/node" /usr/local/bin/node
  ln -sfn "$prefix/node/bin/npm" /usr/local/bin/npm
}

# Exactly the pupistry that rendered this script (and its installed plugins), so a fleet never drifts.
install_pupistry() {
  local installed=""
  if [ -f "$prefix/lib/node_modules/pupistry/package.json" ]; then
    installed=$(node -p 'require(process.argv[1]).version' "$prefix/lib/node_modules/pupistry/package.json")
  fi
  if [ "$installed" = "$pupistry_version" ]; then
    log "pupistry $pupistry_version is installed"
  else
    log "installing pupistry $pupistry_version"
    npm install --global --prefix "$prefix" --no-audit --no-fund --omit=dev "pupistry@$pupistry_version"
  fi
  ln -sfn "$prefix/bin/pupistry" "$pupistry_bin"
}

# The node's settings (the store, the agent's credentials only, the environment) and its trusted keys.
write_settings() {
  mkdir -p "$(dirname "$settings_file")"
  rm -rf "$trusted_keys_dir.new" "$trusted_keys_dir.old"
  mkdir -m 0755 "$trusted_keys_dir.new"
  cat >"$trusted_keys_dir.new/"ops-2026.asc <<'PUPISTRY_EOF'
-----BEGIN PGP PUBLIC KEY BLOCK-----

xjMEaUZ9ABYJKwYBBAHaRw8BAQdAc2FtcGxlIGtleSBieXRlcyBmb3IgcHVwaXN0cnkg
dGVtcGxhdGUgdGVzdHM=
=Pupi
-----END PGP PUBLIC KEY BLOCK-----
PUPISTRY_EOF
  if [ -d "$trusted_keys_dir" ]; then mv "$trusted_keys_dir" "$trusted_keys_dir.old"; fi
  mv "$trusted_keys_dir.new" "$trusted_keys_dir"
  rm -rf "$trusted_keys_dir.old"
  log "wrote the trusted keys to $trusted_keys_dir"
  put_file "$settings_file" 0600 <<'PUPISTRY_EOF'
# Written by pupistry bootstrap (pupistry 3.0.0-alpha.1); run the bootstrap again to change it.
general:
  storage: s3://acme-puppet/fleet
  s3_checksums: when_required
  app_cache: /var/lib/pupistry
  trusted_keys:
    - /etc/pupistry/trusted-keys
agent:
  daemon_frequency: 600
  region: eu-west-1
  access_key_id: AKIAAGENTREADONLY
  secret_access_key: agent'secret"$(touch /tmp/pwned)`x`{{ .Vars }}
  environment: production
PUPISTRY_EOF
}

# A long-running service: `pupistry apply --daemon`.
units=(pupistry.service)
obsolete=/etc/systemd/system/pupistry.timer
install_service() {
  put_file /etc/systemd/system/pupistry.service 0644 <<'UNIT'
[Unit]
Description=pupistry agent: applies the newest signed Puppet release
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=/usr/local/bin/pupistry apply --daemon --config /etc/pupistry/settings.yaml
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=30
# SIGTERM reaches pupistry alone: it lets a running Puppet finish within
# agent.stop_timeout (60 s), then stops it (SIGKILL 10 s later);
# systemd kills what is left after this.
KillMode=mixed
TimeoutStopSec=100

[Install]
WantedBy=multi-user.target
UNIT
  enable_units
}

systemd_running() { [ -d /run/systemd/system ]; }

# Stops what runs (so the first apply does not meet a running one), then enables
# exactly the units of this schedule, also when switching from the other one.
enable_units() {
  local unit
  if systemd_running; then
    systemctl stop pupistry.timer pupistry.service >/dev/null 2>&1 || true
  fi
  for unit in pupistry.service pupistry.timer; do
    systemctl disable "$unit" >/dev/null 2>&1 || true
  done
  if [ -n "$obsolete" ]; then rm -f "$obsolete"; fi
  if systemd_running; then
    systemctl daemon-reload
  else
    log "systemd is not running here (a chroot or an image build): enabling ${units[*]} without starting"
  fi
  systemctl enable "${units[@]}"
}

start_service() {
  if systemd_running; then
    systemctl start "${units[@]}"
    log "started ${units[*]}"
  fi
}

first_apply() {
  local status=0
  log "first pupistry apply (environment production)"
  "$pupistry_bin" apply --config "$settings_file" || status=$?
  start_service
  if [ "$status" -ne 0 ]; then
    die "the first pupistry apply failed with exit code $status (docs/exit-codes.md); the service is installed and tries again"
  fi
  log "done: pupistry $pupistry_version applies environment production"
}

if [ "${PUPISTRY_BOOTSTRAP_SKIP_PACKAGES:-}" = 1 ]; then
  log "PUPISTRY_BOOTSTRAP_SKIP_PACKAGES=1: not installing Puppet, Node.js or pupistry"
else
  install_puppet
  install_node
  install_pupistry
fi
write_settings
install_service
first_apply
