#!/bin/bash
# pupistry bootstrap: Amazon Linux 2023: Puppet repository, Node.js 22 package
# Rendered by pupistry 3.0.0-alpha.1 (pupistry bootstrap --template amazon-linux-2023) for environment production.
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

# Amazon Linux 2023: Puppet from the repository in bootstrap.puppet_repos, Node.js from the release's own packages.
rpm_tool=dnf
node_install=rpm_install
node_packages="nodejs22 nodejs22-npm"
node_finish() {
  alternatives --set node /usr/bin/node-22
}

rpm_install() {
  "$rpm_tool" install -y "$@"
}

install_puppet() {
  log "installing Puppet"
  fetch_verified https://yum.example.com/openvox8-release-amazon-2023.noarch.rpm 4444444444444444444444444444444444444444444444444444444444444444 "$downloads/puppet-release.rpm"
  rpm -U --replacepkgs "$downloads/puppet-release.rpm"
  rpm_install openvox-agent
}


# Node.js from the release's own packages, which are new enough here.
install_node() {
  log "installing Node.js ($node_packages)"
  if declare -F node_prepare >/dev/null; then node_prepare; fi
  # shellcheck disable=SC2086 # a list of package names
  "$node_install" $node_packages
  if declare -F node_finish >/dev/null; then node_finish; fi
  node_ok "$(command -v node)" || die "the Node.js packages ($node_packages) did not give a node of version 20 or newer"
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
