#!/usr/bin/env bash
# Zoo's C kernels compiled for arm64 (aarch64 Linux) with clang's cross target and Debian's
# libc6-dev-arm64-cross headers: the portable paths must build there (the x86-64 kernels are
# behind preprocessor checks), with no warning. The Swift modules hold no architecture-specific
# code outside `#if arch` checks; they are not cross-compiled here (no arm64 Swift SDK).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/arm64-check
mkdir -p "$out"
for source in Sources/CZooKernels/*.c; do
    clang --target=aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include -ISources/CZooKernels/include \
        -O2 -Wall -Werror -c "$source" -o "$out/$(basename "$source" .c).o"
done
echo "arm64-check: $(ls "$out"/*.o | wc -l) C files of CZooKernels compile for aarch64"
