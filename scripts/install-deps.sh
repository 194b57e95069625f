#!/usr/bin/env bash
# Install everything pier's build, tests, demo and benchmarks need, from
# Debian 12's own archive.  Runs apt-get update only when the package
# lists are missing or an install fails with stale lists.  Idempotent:
# when everything is present it only checks.
set -euo pipefail

packages=(
  # build
  meson ninja-build pkg-config gcc libjansson-dev libssl-dev libseccomp-dev
  libsqlite3-dev sqlite3
  libarchive-dev zlib1g-dev libzstd-dev libisal-dev zstd libcurl4-openssl-dev libnftables-dev
  # unit tests, format check, system tests
  libcmocka-dev clang-format python3-pytest
  # demo and test images
  busybox-static
  # ecosystem tests and benchmarks: other engines and runtimes
  podman containerd crun runc conmon golang-go skopeo umoci hyperfine
  # registry tests and benchmark: a local registry, htpasswd, JWTs for a token server
  docker-registry apache2-utils python3-cryptography openssl
  # tools the tests call
  uidmap iproute2 procps nftables curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root to install them" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
elif ! apt-get install -y --no-install-recommends "${missing[@]}"; then
  # Stale lists name versions the mirror no longer has: refresh once.
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
