#!/usr/bin/env bash
# Sets up a fresh machine for Shipyard: the OS packages (apt) and a virtualenv with Shipyard and its
# pinned dependencies. Used by `make demo`, `make test` and CI alike.
set -euo pipefail
cd "$(dirname "$0")/.."

# The OS packages Shipyard and its tests use, installed with apt when missing (one update,
# one install): HAProxy (the data plane); Docker Engine for `runtime: docker` and its tests,
# with debootstrap (the tests' offline base image) and docker-registry (a local registry);
# chromium, driven by Playwright in the dashboard's browser tests (Playwright's own browser
# download is not used); wrk for the benchmarks and post-deploy load tests (verify.load).
need=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io containerd runc tini)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v git >/dev/null 2>&1 || need+=(git)  # triggers: the hosted repository, checkouts
[ -x /usr/sbin/sshd ] || need+=(openssh-server)  # tests: git push over SSH to the hosted repository
command -v pebble >/dev/null 2>&1 || need+=(pebble)  # the ACME tests' CA (with pebble-challtestsrv)
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need+=(iproute2)  # tests: the swarm rig's second node in a netns
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing from the OS packages: ${need[*]} (apt-get install -y)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  elif [[ " ${need[*]} " == *" haproxy "* ]]; then
    echo "Error: no apt-get here. Install HAProxy 2.4+ yourself (e.g. 'dnf install haproxy')," >&2
    echo "       or set SHIPYARD_HAPROXY to the haproxy binary." >&2
    exit 1
  else
    echo "warning: no apt-get here; missing ${need[*]} (runtime: docker, the browser tests)" >&2
  fi
fi

# A managed PostgreSQL runs as an unprivileged OS user (the server refuses root): `postgres`
# when set up as root (without it Shipyard falls back to `nobody`).
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1 && command -v useradd >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin postgres || true
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v WARNING || true
.venv/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v WARNING || true
.venv/bin/python -c "import shipyard" && echo "setup done: $(.venv/bin/shipyard --help >/dev/null && echo shipyard CLI ready), $(haproxy -v 2>/dev/null | head -1 || /usr/sbin/haproxy -v | head -1)"
