#!/usr/bin/env bash
# Runs every test: installs what is missing, then the Swift test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The kernels are C compiled at -O2 in a release build; a debug build compiles C at -O0, so the
# debug test suite asks for -O2 here (Package.swift carries no unsafe flags: see README).
build_flags=(-Xcc -O2)
swift build --build-tests "${build_flags[@]}"
# A private PostgreSQL server on a loopback port, password-protected, for the PostgreSQL store's
# tests (they run when ZOO_TEST_POSTGRES names it, with PGPASSWORD); stopped when this ends.
pg_dir=$(mktemp -d /tmp/zoo-test-pg.XXXXXX)
eval "$(scripts/postgres-test-server.sh start "$pg_dir")"
trap 'scripts/postgres-test-server.sh stop "$pg_dir" >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT
swift test --skip-build "${build_flags[@]}"
# The run above used the widest kernels the processor has (ZOO_KERNELS=auto); the kernel and
# population tests run once more on each narrower path it has: Zoo's AVX2 kernels on a processor
# with AVX-512, and the portable ones (OpenBLAS, portable loops) everywhere.
narrower=(baseline)
grep -qw avx512f /proc/cpuinfo && grep -qw avx2 /proc/cpuinfo && narrower=(avx2 baseline)
for path in "${narrower[@]}"; do
    ZOO_KERNELS=$path swift test --skip-build "${build_flags[@]}" --filter 'ZooTensorTests|PopulationTests'
done
# The library example (docs/library.md) as a consumer that depends on Zoo by a version
# requirement, as another package would: a clone of this checkout's HEAD, tagged with
# Zoo's version (SwiftPM refuses unsafe flags in such a dependency), built and run.
scripts/consumer-check.sh
# The C kernels compiled for arm64: the portable paths must build there.
scripts/arm64-check.sh
# Each parser fuzzed for 30 s with seeded mutations of Tests/FuzzCorpus/PARSER (store: of a store's
# rows), under a 4 GiB address-space limit: a crash or a hang prints the path of the input (left
# in .build/fuzz/PARSER) and fails.
for parser in safetensors idx npy spec store; do
    (ulimit -v 4194304; .build/debug/zoo-fuzz "$parser" --seconds 30)
done
# Hostile input (issue 11) once more under the same limit, so that an allocation past a limit
# fails the run instead of swapping.
(ulimit -v 4194304; swift test --skip-build "${build_flags[@]}" --filter HostileInput)
