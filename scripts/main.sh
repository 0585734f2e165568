#!/usr/bin/env bash
# Zoo's main job on a fresh Debian machine: install what is missing, build, and train a small
# model zoo — 32 Model Zoos CNNs on Fashion-MNIST, 8 seeds × 4 learning rates
# (examples/readme-zoo.yaml) — into runs/readme-zoo.sqlite, then print its summary table
# (per learning rate: mean ± sd test accuracy over the seeds). Running it again trains nothing
# and prints the same table. Extra arguments go to `zoo sweep run` (e.g. --workers 1, --quiet).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product zoo
.build/release/zoo sweep run examples/readme-zoo.yaml --store runs/readme-zoo.sqlite "$@"
