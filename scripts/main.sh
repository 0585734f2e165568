#!/usr/bin/env bash
# Zoo's main job on a fresh Debian machine: install what is missing, build, and train the
# Model Zoos CNN on Fashion-MNIST for a few epochs, printing the test accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product zoo
.build/release/zoo train --model zoo-cnn --data fashion-mnist --epochs 3 --optimizer adam --lr 1e-3 \
    --batch-size 32 --seed 0 --save-every 1 --out runs/zoo-cnn "$@"
