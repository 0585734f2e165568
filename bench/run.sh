#!/bin/sh
# Zoo against PyTorch: see bench/README.md. Arguments go to bench/compare.py (e.g. --quick).
set -e
cd "$(dirname "$0")/.."
exec python3 bench/compare.py "$@"
