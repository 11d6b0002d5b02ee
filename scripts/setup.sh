#!/usr/bin/env bash
# Installs what cablekey's lab and tests need on Debian, unattended.
# Anything still missing afterwards is a loud failure, never a skip.
set -euo pipefail

# gcc: the linker Rust calls, and the C parts of mimalloc and the libsrtp2 bench.
packages=(tshark osmo-mgw libsrtp2-dev socat strace pkg-config gcc)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer for it.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $sudo debconf-set-selections
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for tool in tshark osmo-mgw socat strace pkg-config cc cargo; do
    command -v "$tool" >/dev/null || { echo "setup: $tool is missing after install" >&2; exit 1; }
done
pkg-config --exists libsrtp2 || { echo "setup: pkg-config cannot find libsrtp2" >&2; exit 1; }
cargo fmt --version >/dev/null && cargo clippy --version >/dev/null || {
    echo "setup: rustfmt and clippy are needed (rustup component add rustfmt clippy)" >&2
    exit 1
}
