#!/usr/bin/env bash
# ribflow's developer entry point for a fresh clone on a fresh machine (Debian/Ubuntu, root or sudo).
#
#   ./dev.sh lab      install what is missing, then run the local lab (`ribflow lab up`)
#   ./dev.sh test     install what is missing, then run the whole test suite (what CI runs)
#   ./dev.sh setup    only install: apt packages, the venv with ribflow, the Kafka jars
#   ./dev.sh bench    run the benchmarks (benchmarks/run_all.sh)
#
# Every step is idempotent and skips what is already there.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${RIBFLOW_VENV:-$ROOT/.venv}
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(openjdk-17-jre-headless maven gobgpd bird2 softflowd tshark pmacct kcat
              docker-compose python3-venv iproute2 procps)

say() { printf '\033[1m[dev]\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_setup() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    # a JDK from elsewhere (or a second one) satisfies Java; Maven likewise
    command -v java >/dev/null 2>&1 && missing=("${missing[@]/openjdk-17-jre-headless/}")
    command -v mvn >/dev/null 2>&1 && missing=("${missing[@]/maven/}")
    command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null \
        && missing=("${missing[@]/python3-venv/}")
    read -r -a missing <<<"${missing[*]:-}"
    if [ "${#missing[@]}" -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        echo "wireshark-common wireshark-common/install-setuid boolean false" | as_root debconf-set-selections || true
        as_root apt-get update -q
        as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

venv_setup() {
    local py stamp want
    py=$(command -v python3.11 || command -v python3)
    "$py" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
        || { say "Python >= 3.11 is required"; exit 1; }
    [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$py" -m venv "$VENV"; }
    stamp="$VENV/.ribflow-installed"
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "pip install -e .[test,bench]"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e ".[test,bench]"
        echo "$want" >"$stamp"
    fi
    # the compiled longest-prefix match (PyO3 + maturin; needs cargo): rebuilt when rust/ changes
    stamp="$VENV/.ribflow-lpm-installed"
    want=$(find rust/ribflow-lpm -name target -prune -o -type f -print | LC_ALL=C sort \
        | xargs sha256sum | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        # rustup installs into ~/.cargo/bin, which a non-login shell may not have on PATH
        command -v cargo >/dev/null 2>&1 || PATH="$HOME/.cargo/bin:$PATH"
        command -v cargo >/dev/null 2>&1 || { say "cargo (Rust >= 1.74) is required: https://rustup.rs"; exit 1; }
        say "pip install ./rust/ribflow-lpm"
        "$VENV/bin/python" -m pip install -q ./rust/ribflow-lpm
        echo "$want" >"$stamp"
    fi
}

kafka_jars() {
    "$VENV/bin/python" - <<'PY'
from ribflow.kafka.local import LocalKafka
print("[dev] Kafka jars in", LocalKafka().resolve_jars())
PY
}

setup() { apt_setup; venv_setup; kafka_jars; }

case "${1:-}" in
    setup) setup ;;
    lab) setup; shift; exec "$VENV/bin/ribflow" lab up "$@" ;;
    test)
        setup; shift
        say "pytest $*"
        exec "$VENV/bin/python" -m pytest "$@" ;;
    bench) setup; shift; exec bash benchmarks/run_all.sh "$@" ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
