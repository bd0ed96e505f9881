#!/usr/bin/env bash
# Set up .venv with everything clio-dagster needs, on a fresh machine (idempotent).
#   bash scripts/install.sh             the product (CLI, Dagster, offline, claude and openai_compatible backends)
#                                       and what the tests need
#   bash scripts/install.sh --browser   also Debian's Chromium (and a CJK font) for the explorer's browser tests
# torch goes first, pinned to the CPU build, so sentence-transformers doesn't pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "The browser tests need Debian's chromium at /usr/bin/chromium: install it (apt-get install chromium) as root." >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "clio-dagster installed in $(pwd)/.venv"
