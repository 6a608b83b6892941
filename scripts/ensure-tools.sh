#!/usr/bin/env bash
# Installs the system tools pupistry's tests and demo run for real, when missing:
# puppet, r10k, git, gpg (and GNU tar/gzip); with --tests also the tools only the
# tests use. Debian/Ubuntu only; elsewhere it says what is missing. Safe to run again: it does nothing when all are there.
set -euo pipefail

# tool (a command name, or an absolute path: a command another copy may shadow, or a file the package installs) → Debian package
libraries=()
declare -A package_of=(
  [puppet]=puppet
  [r10k]=r10k
  [git]=git
  [gpg]=gnupg
  [tar]=tar
  [gzip]=gzip
)
# `--bench` adds g10k, which only bench/assemblers.sh runs (to compare with), and GNU time.
if [ "${1:-}" = "--bench" ]; then
  package_of+=([g10k]=g10k [/usr/bin/time]=time)
fi
# `--tests` adds what only the test suite runs: librarian-puppet, Debian's aws CLI,
# the linter shellcheck, packer, nginx with openssl (the HTTP mirror tests), and for the
# companion Puppet module's tests rspec-puppet, puppet-lint, puppet-strings, stdlib
# (where the tests look for it) and the Ruby libraries below; for the Ruby layout bridge's
# tests Ruby (its YAML.safe_load) and GnuPG 1.4 (gpg1, as the oldest Ruby-tool nodes verify).
if [ "${1:-}" = "--tests" ]; then
  package_of+=(
    [librarian-puppet]=librarian-puppet
    [/usr/bin/aws]=awscli
    [shellcheck]=shellcheck
    [packer]=packer
    [/usr/sbin/nginx]=nginx
    [openssl]=openssl
    [rspec-puppet-init]=ruby-rspec-puppet
    [puppet-lint]=puppet-lint
    [/usr/share/puppet/modules/stdlib/metadata.json]=puppet-module-puppetlabs-stdlib
    [ruby]=ruby
    [gpg1]=gnupg1
  )
  # Ruby libraries with no command of their own (and a versioned path): asked of dpkg.
  libraries=(ruby-rspec-puppet-facts ruby-puppetlabs-spec-helper puppet-strings)
fi

missing=()
for tool in "${!package_of[@]}"; do
  if [[ $tool == /* ]]; then [ -e "$tool" ] && continue
  else command -v "$tool" >/dev/null 2>&1 && continue; fi
  missing+=("${package_of[$tool]}")
done
for package in "${libraries[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" = "install ok installed" ] && continue
  missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: missing ${missing[*]}; install them with your system's package manager" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "ensure-tools: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi

echo "ensure-tools: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
