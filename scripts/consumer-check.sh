#!/usr/bin/env bash
# Builds and runs examples/library as a package that depends on Zoo by a version requirement:
# HEAD cloned into .build/consumer/zoo and tagged with ZooVersion.package, the example copied
# with its path dependency replaced by `.package(url: "file://…/zoo", exact: VERSION)`.
# Arguments are passed to `swift build` (scripts/test.sh passes none: a default debug build, as
# a consumer would make, with its C unoptimized).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.build/consumer
version=$(sed -n 's/.*public static let package = "\(.*\)".*/\1/p' Sources/ZooLab/ZooVersion.swift)
rm -rf "$root/zoo" "$root/app"
mkdir -p "$root"
git clone --quiet --no-local . "$root/zoo"
git -C "$root/zoo" -c user.name=zoo -c user.email=zoo@localhost tag "$version"
mkdir -p "$root/app"
cp -r examples/library/Sources "$root/app/"
sed "s|.package(name: \"Zoo\", path: \"../..\")|.package(url: \"file://$root/zoo\", exact: \"$version\")|" \
    examples/library/Package.swift > "$root/app/Package.swift"
grep -q "exact: \"$version\"" "$root/app/Package.swift" || { echo "consumer-check: the example's dependency line was not found" >&2; exit 1; }
# The tag names a new commit each time: forget the clone SwiftPM resolved before (its own copy
# in the scratch folder, and the shared cache, which is not used).
scratch=.build/library-example
rm -rf "$scratch"/repositories/zoo-* "$scratch/checkouts/zoo" "$scratch/workspace-state.json"
swift build --package-path "$root/app" --scratch-path "$scratch" --disable-dependency-cache "$@"
.build/library-example/debug/TrainAZoo
