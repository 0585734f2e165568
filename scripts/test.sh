#!/usr/bin/env bash
# Runs every test: installs what is missing, then the Swift test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
