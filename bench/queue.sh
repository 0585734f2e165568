#!/usr/bin/env bash
# The run queue and the cluster workers against SQLite (docs/benchmarks.md, "PostgreSQL queue"):
#   1. zoo-queue-bench: C concurrent claimers doing claim → heartbeat → finish on N one-step runs,
#      on a private PostgreSQL server (scripts/postgres-test-server.sh) and on an SQLite file;
#   2. a real spec (examples/readme-zoo.yaml) trained by one `zoo sweep run --workers 2` on SQLite
#      and by two `zoo worker --threads 1` processes on PostgreSQL, wall time of each.
# Usage: bench/queue.sh [RUNS] [CLAIMERS]   (defaults 100000 and 64; release builds first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100000}
claimers=${2:-64}
swift build -c release --product zoo-queue-bench >/dev/null
swift build -c release --product zoo >/dev/null
dir=$(mktemp -d /tmp/zoo-queue-bench.XXXXXX)
eval "$(scripts/postgres-test-server.sh start "$dir/pg")"
trap 'scripts/postgres-test-server.sh stop "$dir/pg" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
echo "== queue: $runs one-step runs, $claimers claimers"
.build/release/zoo-queue-bench --store "$ZOO_TEST_POSTGRES/queue?checkpoints=$dir/q" --runs "$runs" --claimers "$claimers"
.build/release/zoo-queue-bench --store "$dir/queue.sqlite" --runs "$runs" --claimers "$claimers"
echo "== examples/readme-zoo.yaml: one process on SQLite against two workers on PostgreSQL"
start=$(date +%s%N)
.build/release/zoo sweep run examples/readme-zoo.yaml --store "$dir/one.sqlite" --workers 2 --quiet >/dev/null
sqlite=$(( $(date +%s%N) - start ))
url="$ZOO_TEST_POSTGRES/readme?checkpoints=$dir/checkpoints"
.build/release/zoo submit examples/readme-zoo.yaml --store "$url" >/dev/null
start=$(date +%s%N)
.build/release/zoo worker --store "$url" --threads 1 --population 16 --quiet >/dev/null &
.build/release/zoo worker --store "$url" --threads 1 --population 16 --quiet >/dev/null &
wait
postgres=$(( $(date +%s%N) - start ))
python3 -c "import sys; a, b = int(sys.argv[1]) / 1e9, int(sys.argv[2]) / 1e9; print(f'sqlite, one process, 2 workers: {a:.1f} s; postgresql, two worker processes: {b:.1f} s ({b / a:.2f}x)')" "$sqlite" "$postgres"
