#!/usr/bin/env bash
# Set up .venv with everything clio-dagster needs, on a fresh machine (idempotent).
# torch goes first, pinned to the CPU build, so sentence-transformers doesn't pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "clio-dagster installed in $(pwd)/.venv"
