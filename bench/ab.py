#!/usr/bin/env python3
"""Interleaved A/B of zoo-bench binaries (two builds, or two kernel paths of one build).

    python3 bench/ab.py ROUNDS CONFIGS NAME=BINARY[:KERNELS] ...
    python3 bench/ab.py 5 zoo-cnn-b32,mlp-b128 before=/tmp/old/zoo-bench:avx512 after=.build/release/zoo-bench:avx512

Each round runs every configuration once per arm, the arms alternating (so a load that comes
and goes falls on all of them), `--threads 2` (THREADS overrides) and ZOO_KERNELS=KERNELS
(default auto). Prints the median samples/s and the range per arm. Build the old binary from a
commit in a separate work tree (`git worktree add`, `swift build -c release --product zoo-bench`).
"""
import json, os, statistics, subprocess, sys

SHORT = {"resnet20-b128": 20, "population-zoo-cnn-64": 20}  # steps per process for the slow ones

def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds, configs, arms = int(sys.argv[1]), sys.argv[2].split(","), [a.split("=", 1) for a in sys.argv[3:]]
    rates = {}
    for _ in range(rounds):
        for config in configs:
            for name, spec in arms:
                binary, _, kernels = spec.partition(":")
                command = [binary, "--config", config, "--json", "--threads", os.environ.get("THREADS", "2")]
                if config in SHORT:
                    command += ["--steps", str(SHORT[config])]
                output = subprocess.run(command, env=dict(os.environ, ZOO_KERNELS=kernels or "auto"),
                                        capture_output=True, text=True, check=True).stdout
                rates.setdefault((config, name), []).append(json.loads(output.strip().splitlines()[-1])["samples_per_s"])
    for config in configs:
        cells = [f"{name}: {statistics.median(r):9.0f} ({min(r):.0f}-{max(r):.0f})"
                 for name, _ in arms for r in [rates[(config, name)]]]
        print(f"{config:24s}  " + "  ".join(cells), flush=True)

if __name__ == "__main__":
    main()
