#!/usr/bin/env bash
# Release-build timings of every catalog model at batch 128 (forward, forward + backward).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift run -c release zoo-bench "$@"
