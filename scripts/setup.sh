#!/usr/bin/env bash
# Sets up a fresh machine for Shipyard: HAProxy (apt) and a virtualenv with Shipyard and its
# pinned dependencies. Used by `make demo`, `make test` and CI alike.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  echo "HAProxy is missing: installing it from the OS packages (apt-get install -y haproxy)"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq haproxy >/dev/null
  else
    echo "Error: no apt-get here. Install HAProxy 2.4+ yourself (e.g. 'dnf install haproxy')," >&2
    echo "       or set SHIPYARD_HAPROXY to the haproxy binary." >&2
    exit 1
  fi
fi

# The dashboard's browser tests drive Debian's chromium through Playwright (its own browser
# download is not used).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing: installing it from the OS packages (apt-get install -y chromium)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
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
