#!/usr/bin/env bash
# Runs every test: installs what is missing, then the Swift test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
# On a processor with AVX-512 the run above used Zoo's AVX-512 kernels; the kernel and
# population tests run once more on the portable kernels (OpenBLAS, 8-wide Swift vectors).
ZOO_KERNELS=baseline swift test --skip-build --filter 'ZooTensorTests|PopulationTests'
# The library example (docs/library.md): a package that depends on Zoo by path, built and run.
swift build --package-path examples/library --scratch-path .build/library-example
.build/library-example/debug/TrainAZoo
# Each parser fuzzed for 30 s with seeded mutations of Tests/FuzzCorpus/PARSER (store: of a store's
# rows), under a 4 GiB address-space limit: a crash or a hang prints the path of the input (left
# in .build/fuzz/PARSER) and fails.
for parser in safetensors idx npy spec store; do
    (ulimit -v 4194304; .build/debug/zoo-fuzz "$parser" --seconds 30)
done
# Hostile input (issue 11) once more under the same limit, so that an allocation past a limit
# fails the run instead of swapping.
(ulimit -v 4194304; swift test --skip-build --filter HostileInput)
