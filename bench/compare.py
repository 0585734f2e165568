#!/usr/bin/env python3
"""Zoo against PyTorch, configuration by configuration, as separate processes.

    python3 bench/compare.py [--configs a,b] [--kernels P,Q] [--repeats N] [--threads T] [--quick] [--out PATH]

For each configuration it runs `zoo-bench --config NAME --json` once per kernel path (by default
every path of Zoo's own kernels the processor has: avx512 and avx2 on an AVX-512 machine, avx2 on
an AVX2 one, baseline elsewhere; `ZOO_KERNELS` selects it) and `bench/torch_bench.py --config NAME`
interleaved (zoo avx512, zoo avx2, torch, torch limited to AVX2, zoo avx512, …): one untimed warm-up round, then
`--repeats` rounds. One table per kernel path, against the same PyTorch runs. Each process's peak RSS comes from os.wait4. It prints one line per
configuration and path and writes every figure to bench/results.json, keyed by path. Standard library only: it creates
bench/.venv (torch, numpy) when missing and builds zoo-bench in release mode first.

The configuration `measures-zoo-cnn-64` is the measure benchmark: `zoo-bench --measures` and
`bench/torch_measures.py` over the same zoo-cnn checkpoint files, one process each (repeats
inside), a table of seconds per checkpoint per measure family and the agreement of the values.
"""

import argparse
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
VENV_PYTHON = os.path.join(BENCH, ".venv", "bin", "python")

# name -> (timed steps, warm-up steps) of a normal run; --quick uses QUICK_STEPS.
CONFIGS = {
    "zoo-cnn-b32": (200, 10),
    "zoo-cnn-b128": (100, 5),
    "lenet5-b128": (50, 5),
    "mlp-b128": (100, 5),
    "resnet20-b128": (5, 1),
    "cnn1d-b128": (200, 10),
    "zoo-cnn-infer-b1024": (20, 2),
    "gemm-peak": (10, 2),
    "population-zoo-cnn-64": (50, 2),
}
QUICK_STEPS = (3, 1)
MEASURES = "measures-zoo-cnn-64"
MEASURE_TOLERANCE = 1e-4  # largest relative difference of a measure's values between Zoo and PyTorch
# Measures whose two sides agree only approximately: power iterations stopped by a tolerance.
APPROXIMATE = {"hessian_top_eigenvalue": 5e-2, "log_prod_of_spec": 1e-2, "sum_of_spec": 1e-2, "log_spec_over_margin": 1e-2,
               "log_spec_init": 1e-2, "log_spec_orig": 1e-2}
# zoo-bench's setting (measure, key) -> torch_measures.py option: both sides run with Zoo's defaults.
TORCH_SETTINGS = {("margin", "percentile"): "--percentile", ("log_prod_of_spec", "iterations"): "--spectral-iterations",
                  ("log_prod_of_spec", "tolerance"): "--spectral-tolerance", ("hessian_trace", "draws"): "--hessian-draws",
                  ("hessian_top_eigenvalue", "iterations"): "--power-iterations",
                  ("hessian_top_eigenvalue", "tolerance"): "--power-tolerance"}
POPULATION_WAYS = ("sequential", "vmap", "procs")
# PyTorch's run-time switches that keep its ATen, oneDNN and MKL kernels to one instruction set:
# on an AVX-512 machine, Zoo's avx2 path is compared with a PyTorch limited the same way (what
# both would do on an AVX2 machine), and with the unlimited one.
TORCH_LIMITS = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}
TRAINING_FLOPS_PER_FORWARD = 3  # forward + backward (gradients of inputs and of weights)


class BenchError(Exception):
    pass


def ensure_venv():
    """Creates bench/.venv with torch and numpy when it is missing or cannot import torch."""
    if not os.path.exists(VENV_PYTHON):
        log(f"creating {os.path.join(BENCH, '.venv')} (python3 -m venv, then pip install torch numpy)")
        subprocess.run([sys.executable, "-m", "venv", os.path.join(BENCH, ".venv")], check=True)
    if subprocess.run([VENV_PYTHON, "-c", "import torch, numpy"], capture_output=True).returncode != 0:
        subprocess.run([VENV_PYTHON, "-m", "pip", "install", "torch", "numpy"], check=True)


def build_zoo_bench():
    """Builds zoo-bench in release mode; returns the path of the binary."""
    log("swift build -c release --product zoo-bench")
    subprocess.run(["swift", "build", "-c", "release", "--product", "zoo-bench"], cwd=ROOT, check=True, stdout=sys.stderr)
    bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_dir, "zoo-bench")


def processor_paths():
    """Zoo's kernel paths this processor runs, widest first (BLAS.kernelPath)."""
    try:
        flags = set(next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split(":")[1].split())
    except (OSError, StopIteration):
        flags = set()
    paths = []
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        paths.append("avx512")
    if {"avx2", "fma"} <= flags:
        paths.append("avx2")
    return paths or ["baseline"]


def run_child(command, threads, extra_env=None):
    """Runs `command` to completion; returns its standard output and its peak RSS in MB.

    The child is reaped with os.wait4, whose rusage is that one child's (with its own waited-for
    children): RUSAGE_CHILDREN of this process would give the largest peak of all children so far."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               **(extra_env or {}))
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=ROOT)
        output = process.stdout.read().decode()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait
        if process.returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip().splitlines()[-5:]
            raise BenchError(f"{' '.join(command)} exited with {process.returncode}:\n  " + "\n  ".join(tail))
    return output, usage.ru_maxrss / 1024  # kilobytes on Linux


def run_process(command, threads, extra_env=None):
    """Runs one benchmark process; returns its JSON line with `peak_rss_mb` added (for a process
    that starts others, the sum of their peaks when it reports `total_peak_rss_mb`)."""
    output, rss = run_child(command, threads, extra_env)
    lines = [l for l in output.splitlines() if l.startswith("{")]
    if not lines:
        raise BenchError(f"{' '.join(command)} printed no JSON line; output: {output[-300:]!r}")
    result = json.loads(lines[-1])
    result["peak_rss_mb"] = result.get("total_peak_rss_mb", rss)
    return result


def sides(config, zoo_bench, steps, warmup, threads, paths):
    """The processes to compare for `config`: name -> (command, environment), Zoo's paths first
    (named `zoo-PATH`)."""
    common = ["--steps", str(steps), "--warmup", str(warmup), "--threads", str(threads)]
    torch = [VENV_PYTHON, os.path.join(BENCH, "torch_bench.py")]
    out = {f"zoo-{path}": ([zoo_bench, "--config", config, "--json"] + common, {"ZOO_KERNELS": path}) for path in paths}
    torch_sides = {f"torch-{way}": torch + ["--config", f"{config}-torch-{way}"] + common for way in POPULATION_WAYS} \
        if config.startswith("population-") else {"torch": torch + ["--config", config] + common}
    limited = [p for p in paths if p in TORCH_LIMITS and p != processor_paths()[0]]
    for name, command in torch_sides.items():
        out[name] = (command, None)
        for path in limited:
            out[f"{name}@{path}"] = (command, TORCH_LIMITS[path])
    return out


def measure(config, commands, repeats, warm_up_round, threads):
    """Runs the sides interleaved: an optional warm-up round, then `repeats` rounds."""
    runs = {name: [] for name in commands}
    for round_ in range(-1 if warm_up_round else 0, repeats):
        for name, (command, extra_env) in commands.items():
            result = run_process(command, threads, extra_env)
            label = "warm-up" if round_ < 0 else f"{round_ + 1}/{repeats}"
            rate = "unsupported" if result.get("unsupported") else f"{result['samples_per_s']:.1f}/s"
            log(f"  {config:24} {name:16} {label:8} {rate:>14}  {result['peak_rss_mb']:.0f} MB")
            if round_ >= 0:
                runs[name].append(result)
    return runs


def summarize(runs):
    """Median, min and max of samples/s, and the largest peak RSS, of one side's runs."""
    if not runs or any(r.get("unsupported") for r in runs):
        return {"samples_per_s": None, "min": None, "max": None, "peak_rss_mb": max((r["peak_rss_mb"] for r in runs), default=None)}
    rates = [r["samples_per_s"] for r in runs]
    s = {"samples_per_s": statistics.median(rates), "min": min(rates), "max": max(rates),
         "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    if "gflops" in runs[0]:
        s["gflops"] = statistics.median(r["gflops"] for r in runs)
    return s


def entry(config, runs, steps, warmup, threads, repeats, path):
    """One object of results.json: Zoo's runs on kernel `path` against PyTorch's, limited to the
    same instruction set when it ran so (`torch_limited_to`); the unlimited PyTorch's ratio then
    stays as `ratio_unlimited_torch`."""
    limited = any(k.endswith(f"@{path}") for k in runs)
    unlimited = torch_summary({k: v for k, v in runs.items() if k.startswith("torch") and "@" not in k})[0] if limited else None
    runs = {"zoo": runs[f"zoo-{path}"],
            **{k.removesuffix(f"@{path}"): v for k, v in runs.items() if k.startswith("torch") and
               (k.endswith(f"@{path}") if limited else "@" not in k)}}
    zoo = summarize(runs["zoo"])
    torch, ways, best_way = torch_summary(runs)
    e = {"config": config, "kernels": path,
         "zoo_samples_per_s": zoo["samples_per_s"], "zoo_min": zoo["min"], "zoo_max": zoo["max"],
         "torch_samples_per_s": torch["samples_per_s"], "torch_min": torch["min"], "torch_max": torch["max"],
         "ratio": zoo["samples_per_s"] / torch["samples_per_s"] if zoo["samples_per_s"] and torch["samples_per_s"] else None,
         "zoo_peak_rss_mb": zoo["peak_rss_mb"], "torch_peak_rss_mb": torch["peak_rss_mb"],
         "steps": steps, "warmup": warmup, "threads": threads, "repeats": repeats}
    if ways:
        e["torch_best_way"], e["torch_ways"] = best_way, ways
        e["zoo_unsupported"] = bool(runs["zoo"] and runs["zoo"][0].get("unsupported"))
    if "gflops" in zoo:
        e["zoo_gflops"], e["torch_gflops"] = zoo["gflops"], torch.get("gflops")
    first_torch = (runs.get("torch") or [{}])[0]
    if "forward_flops_per_sample" in first_torch:
        e["forward_flops_per_sample"] = first_torch["forward_flops_per_sample"]
        e["train_flops_per_sample"] = TRAINING_FLOPS_PER_FORWARD * first_torch["forward_flops_per_sample"]
    zoo_params, torch_params = runs["zoo"][0].get("params") if runs["zoo"] else None, first_torch.get("params")
    if zoo_params is not None and torch_params is not None:
        e["params"], e["params_match"] = zoo_params, zoo_params == torch_params
    e["zoo_runs"], e["torch_runs"] = runs["zoo"], {k: v for k, v in runs.items() if k != "zoo"}
    if unlimited:
        e["torch_limited_to"] = path
        e["ratio_unlimited_torch"] = e["zoo_samples_per_s"] / unlimited["samples_per_s"] \
            if e["zoo_samples_per_s"] and unlimited["samples_per_s"] else None
        e["unlimited_torch_samples_per_s"] = unlimited["samples_per_s"]
        if "gflops" in unlimited:
            e["unlimited_torch_gflops"] = unlimited["gflops"]
    return e


def torch_summary(runs):
    """PyTorch's side of `runs` (`torch`, or one `torch-WAY` per way of running a population):
    the summary of the best way, the summaries of all ways, and the best way's name."""
    ways = {name.removeprefix("torch-"): summarize(r) for name, r in runs.items() if name.startswith("torch-")}
    best_way = max(ways, key=lambda w: ways[w]["samples_per_s"]) if ways else None
    return (ways[best_way] if ways else summarize(runs["torch"])), ways, best_way


def add_peak_fractions(entries):
    """Achieved fraction of the measured GEMM peak (the better of Zoo's and PyTorch's) per training config."""
    gemm = next((e for e in entries if e["config"] == "gemm-peak" and e.get("zoo_gflops")), None)
    if gemm is None:
        return None
    peak = max(g for g in (gemm["zoo_gflops"], gemm["torch_gflops"]) if g)
    for e in entries:
        if "train_flops_per_sample" in e:
            for side in ("zoo", "torch"):
                rate = e[f"{side}_samples_per_s"]
                e[f"{side}_fraction_of_peak"] = rate * e["train_flops_per_sample"] / (peak * 1e9) if rate else None
    return peak


def print_table(entries, peak, threads, repeats, path):
    fmt = lambda v, d=None: "—" if v is None else f"{v:,.{d if d is not None else (1 if abs(v) < 100 else 0)}f}"
    span = lambda e, s: "unsupported" if e[f"{s}_samples_per_s"] is None else \
        f"{fmt(e[f'{s}_samples_per_s'])} ({fmt(e[f'{s}_min'])}–{fmt(e[f'{s}_max'])})"
    print(f"\nZoo's {path} kernels (ZOO_KERNELS={path}): samples/s, median (min–max) of {repeats} run{'s' if repeats > 1 else ''}, "
          f"{threads} threads; peak RSS in MB"
          + (f"; torch limited to {path} as well (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS), "
             f"its unlimited runs below each row" if any(e.get("torch_limited_to") for e in entries) else ""))
    print(f"{'config':24} {'zoo samples/s':>28} {'torch samples/s':>28} {'zoo/torch':>9} {'zoo MB':>7} {'torch MB':>8}")
    for e in entries:
        ratio = "—" if e["ratio"] is None else f"{e['ratio']:.2f}"
        print(f"{e['config']:24} {span(e, 'zoo'):>28} {span(e, 'torch'):>28} {ratio:>9} "
              f"{fmt(e['zoo_peak_rss_mb']):>7} {fmt(e['torch_peak_rss_mb']):>8}")
        for way, w in e.get("torch_ways", {}).items():
            best = "  (best)" if way == e["torch_best_way"] else ""
            print(f"  torch {way:17} {'':>28} {fmt(w['samples_per_s']):>28} {'':>9} {'':>7} {fmt(w['peak_rss_mb']):>8}{best}")
        if e.get("torch_limited_to"):
            unlimited = e["ratio_unlimited_torch"]
            print(f"  torch unlimited {'':>18} {fmt(e['unlimited_torch_samples_per_s']):>28} "
                  f"{'—' if unlimited is None else f'{unlimited:.2f}':>9}")
        if e.get("params_match") is False:
            print(f"  WARNING: parameter counts differ: zoo {e['params']}, torch {e['torch_runs']['torch'][0].get('params')}")
    gemm = next((e for e in entries if e["config"] == "gemm-peak"), None)
    if gemm:
        print(f"\nGEMM 2048³ peak: zoo {fmt(gemm.get('zoo_gflops'), 1)} GFLOP/s, torch {fmt(gemm.get('torch_gflops'), 1)} GFLOP/s")
    for e in entries:
        if e["config"] == "resnet20-b128":
            if peak is None:
                print("resnet20: fraction of peak needs gemm-peak in --configs")
            else:
                pct = lambda f: "—" if f is None else f"{100 * f:.1f}%"
                print(f"resnet20 training ≈ {e['train_flops_per_sample'] / 1e6:.0f} MFLOP/sample (3 × forward): "
                      f"zoo {pct(e.get('zoo_fraction_of_peak'))}, torch {pct(e.get('torch_fraction_of_peak'))} of {peak:.1f} GFLOP/s")


def json_lines(output):
    return [json.loads(l) for l in output.splitlines() if l.startswith("{")]


def run_measures(zoo_bench, args, repeats):
    """The measure benchmark: Zoo writes the checkpoints and times every measure, then PyTorch
    times its measures on the same files; returns the results.json entry."""
    sample = args.measure_sample_size or (1000 if args.quick else 5000)
    checkpoints = args.measure_checkpoints or (16 if args.quick else 64)
    common = ["--checkpoints", str(checkpoints), "--sample-size", str(sample), "--threads", str(args.threads)]
    folder = args.measure_checkpoint_dir or tempfile.mkdtemp(prefix="zoo-bench-measures-")
    zoo_command = [zoo_bench, "--measures", "--json", "--checkpoint-dir", folder, "--train-steps", str(args.measure_train_steps),
                   "--measure-repeats", str(repeats)] + common
    if args.measure_families:
        zoo_command += ["--families", args.measure_families]
    if args.measure_names:
        zoo_command += ["--measure-names", args.measure_names]
    log(f"  {MEASURES}: zoo-bench --measures ({checkpoints} checkpoints, sample {sample}) in {folder}")
    output, zoo_rss = run_child(zoo_command, args.threads)
    zoo = json_lines(output)
    zoo_measures = {l["measure"]: l for l in zoo if l.get("kind") == "measure"}
    torch_command = [VENV_PYTHON, os.path.join(BENCH, "torch_measures.py"), "--json", "--checkpoint-dir", folder,
                     "--repeats", str(repeats), "--measures", ",".join(n for n, l in zoo_measures.items() if "error" not in l)] + common
    for (measure, key), option in TORCH_SETTINGS.items():
        line = zoo_measures.get(measure)
        if line and "settings" in line and key in json.loads(line["settings"]):
            torch_command += [option, str(json.loads(line["settings"])[key])]
    log(f"  {MEASURES}: torch_measures.py")
    output, torch_rss = run_child(torch_command, args.threads)
    torch = json_lines(output)
    if not args.measure_checkpoint_dir:
        shutil.rmtree(folder, ignore_errors=True)
    return measure_entry(zoo, torch, zoo_rss, torch_rss, repeats, args.threads)


def value_check(name, zoo, torch):
    """How well the two sides' values agree: the largest relative difference (non-finite values
    must be non-finite on both sides); for Hutchinson's estimates, whose draws differ, the means
    and the z-score of their difference from the standard errors."""
    a, b = zoo.get("values") or [], torch.get("values") or []
    if len(a) != len(b) or not a:
        return {"check": "no values"}
    if name == "hessian_trace":
        se = [x * x + y * y for x, y in zip(zoo.get("standard_error", []), torch.get("standard_error", [])) if x is not None and y is not None]
        diff = statistics.fmean(x - y for x, y in zip(a, b)) if None not in a + b else None
        z = diff / (sum(se) ** 0.5 / len(se)) if diff is not None and se and sum(se) > 0 else None
        return {"zoo_mean": statistics.fmean(a) if None not in a else None, "torch_mean": statistics.fmean(b) if None not in b else None,
                "z": z, "check": "—" if z is None else ("ok" if abs(z) < 4 else "DIFFERENT")}
    worst = 0.0
    for x, y in zip(a, b):
        if x is None or y is None:
            worst = max(worst, 0.0 if x is None and y is None else float("inf"))
        else:
            worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-12))
    tolerance = APPROXIMATE.get(name, MEASURE_TOLERANCE)
    both_infinite = sum(1 for x, y in zip(a, b) if x is None and y is None)
    return {"max_rel_diff": worst, "tolerance": tolerance, "both_non_finite": both_infinite, "count": len(a),
            "check": "ok" if worst <= tolerance else "DIFFERENT"}


def measure_entry(zoo, torch, zoo_rss, torch_rss, repeats, threads):
    setup = next((l for l in zoo if l.get("kind") == "setup"), {})
    zoo_m = {l["measure"]: l for l in zoo if l.get("kind") == "measure"}
    torch_m = {l["measure"]: l for l in torch if l.get("kind") == "measure"}
    checkpoints = setup.get("checkpoints")
    rows = []
    for name, z in zoo_m.items():
        t = torch_m.get(name)
        row = {"measure": name, "family": z["family"], "zoo_s_per_checkpoint": z.get("seconds_per_checkpoint"),
               "zoo_runs": z.get("runs"), "error": z.get("error")}
        if t:
            row.update(torch_s_per_checkpoint=t["seconds_per_checkpoint"], torch_runs=t["runs"],
                       speedup=t["seconds_per_checkpoint"] / z["seconds_per_checkpoint"] if z.get("seconds_per_checkpoint") else None,
                       **value_check(name, z, t))
        rows.append(row)
    references = []
    for r in (l for l in torch if l.get("kind") == "reference"):
        mine = (zoo_m.get(r["measure"], {}).get("values") or [])[:len(r["values"])]
        if len(mine) == len(r["values"]) and None not in mine:
            worst = max(abs(x - y) / max(abs(x), abs(y), 1e-12) for x, y in zip(mine, r["values"]))
            references.append({"measure": r["measure"], "method": r["method"], "checkpoints": len(mine), "max_rel_diff": worst})
    families = []
    for family in dict.fromkeys(r["family"] for r in rows):
        members = [r for r in rows if r["family"] == family and r["error"] is None]
        both = [r for r in members if "torch_s_per_checkpoint" in r]
        zoo_common = sum(r["zoo_s_per_checkpoint"] for r in both)
        torch_common = sum(r["torch_s_per_checkpoint"] for r in both)
        families.append({"family": family, "measures": len(members), "failed": sum(1 for r in rows if r["family"] == family) - len(members),
                         "zoo_s_per_checkpoint": sum(r["zoo_s_per_checkpoint"] for r in members),
                         "common_measures": len(both), "zoo_common_s_per_checkpoint": zoo_common if both else None,
                         "torch_s_per_checkpoint": torch_common if both else None,
                         "speedup": torch_common / zoo_common if both and zoo_common > 0 else None})
    return {"config": MEASURES, "checkpoints": checkpoints, "sample_size": setup.get("sample_size"),
            "train_steps": setup.get("train_steps"), "subjects_per_call": setup.get("subjects_per_call"),
            "threads": threads, "repeats": repeats, "families": families, "measures": rows, "references": references,
            "zoo_peak_rss_mb": zoo_rss, "torch_peak_rss_mb": torch_rss, "zoo_lines": zoo, "torch_lines": torch}


def print_measure_table(e):
    fmt = lambda v: "—" if v is None else f"{v:.2e}" if v < 0.01 else f"{v:.3f}"
    ratio = lambda v: "—" if v is None else f"{v:.1f}x"
    print(f"\n{MEASURES}: seconds per checkpoint over {e['checkpoints']} zoo-cnn checkpoints ({e['train_steps']} Adam steps), "
          f"Fashion-MNIST sample of {e['sample_size']}, {e['threads']} threads, median of up to {e['repeats']} runs; "
          f"peak RSS zoo {e['zoo_peak_rss_mb']:.0f} MB, torch {e['torch_peak_rss_mb']:.0f} MB")
    print(f"{'family':16} {'measures':>8} {'zoo s/ckpt':>11} {'in torch':>8} {'zoo s/ckpt':>11} {'torch s/ckpt':>12} {'torch/zoo':>9}")
    for f in e["families"]:
        failed = f"  ({f['failed']} failed)" if f["failed"] else ""
        print(f"{f['family']:16} {f['measures']:>8} {fmt(f['zoo_s_per_checkpoint']):>11} {f['common_measures']:>8} "
              f"{fmt(f['zoo_common_s_per_checkpoint']):>11} {fmt(f['torch_s_per_checkpoint']):>12} {ratio(f['speedup']):>9}{failed}")
    print(f"\n{'measure':28} {'family':14} {'zoo s/ckpt':>11} {'torch s/ckpt':>12} {'torch/zoo':>9}  values")
    for r in e["measures"]:
        if r["error"]:
            print(f"{r['measure']:28} {r['family']:14} failed: {r['error'][:80]}")
            continue
        if "max_rel_diff" in r:
            values = f"max rel diff {r['max_rel_diff']:.1e} (≤ {r['tolerance']:.0e}) {r['check']}"
            if r["both_non_finite"]:
                values += f", {r['both_non_finite']} of {r['count']} non-finite on both sides"
        elif "z" in r:
            z = "—" if r["z"] is None else f"{r['z']:.1f}"
            values = (f"means zoo {r['zoo_mean']:.4g}, torch {r['torch_mean']:.4g} (Hutchinson, own draws), z {z} {r['check']}"
                      if r.get("zoo_mean") is not None and r.get("torch_mean") is not None else r["check"])
        else:
            values = ""
        print(f"{r['measure']:28} {r['family']:14} {fmt(r['zoo_s_per_checkpoint']):>11} {fmt(r.get('torch_s_per_checkpoint')):>12} "
              f"{ratio(r.get('speedup')):>9}  {values}")
    for ref in e["references"]:
        print(f"zoo {ref['measure']} against {ref['method']} on {ref['checkpoints']} checkpoints: max rel diff {ref['max_rel_diff']:.1e}")


def cpu_model():
    try:
        return next(l for l in open("/proc/cpuinfo") if l.startswith("model name")).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return None


def log(message):
    print(message, file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(list(CONFIGS) + [MEASURES]),
                        help="comma-separated subset of: " + ", ".join(list(CONFIGS) + [MEASURES]))
    parser.add_argument("--kernels", help="comma-separated kernel paths of Zoo to run (avx512, avx2, baseline; "
                        "default: every path of Zoo's own kernels this processor has: " + ",".join(processor_paths()) + ")")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each side per configuration (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="threads of both sides (default 2)")
    parser.add_argument("--steps", type=int, help="timed steps of every configuration (default: per configuration)")
    parser.add_argument("--warmup", type=int, help="warm-up steps inside each process (default: per configuration)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: 1 run, no warm-up round, {QUICK_STEPS[0]} steps")
    parser.add_argument("--no-build", action="store_true", help="use the existing release zoo-bench")
    parser.add_argument("--zoo-bench", help="use this zoo-bench binary (no build)")
    parser.add_argument("--out", default=os.path.join(BENCH, "results.json"), help="where to write the results (JSON list)")
    parser.add_argument("--measure-checkpoints", type=int, help=f"{MEASURES}: checkpoints (default 64, --quick 16)")
    parser.add_argument("--measure-sample-size", type=int, help=f"{MEASURES}: sample rows (default 5000, --quick 1000)")
    parser.add_argument("--measure-train-steps", type=int, default=200, help=f"{MEASURES}: Adam steps per checkpoint (default 200)")
    parser.add_argument("--measure-families", help=f"{MEASURES}: comma-separated families (default: all)")
    parser.add_argument("--measure-names", help=f"{MEASURES}: comma-separated measures (default: all)")
    parser.add_argument("--measure-repeats", type=int, default=3, help=f"{MEASURES}: timed runs per measure (default 3, --quick 1)")
    parser.add_argument("--measure-checkpoint-dir", help=f"{MEASURES}: keep the checkpoints in this folder (default: a temporary one)")
    args = parser.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS and c != MEASURES]
    if unknown:
        parser.error(f"unknown config {unknown[0]!r}; choose from {', '.join(CONFIGS)}")
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be at least 1")
    repeats = 1 if args.quick else args.repeats
    paths = [p.strip() for p in (args.kernels or ",".join(processor_paths())).split(",") if p.strip()]
    if not paths or any(p not in ("avx512", "avx2", "baseline") for p in paths):
        parser.error("--kernels takes avx512, avx2 and baseline")

    ensure_venv()
    zoo_bench = args.zoo_bench or (os.path.join(ROOT, ".build", "release", "zoo-bench") if args.no_build else build_zoo_bench())
    load_before = os.getloadavg()
    entries, failed = {path: [] for path in paths}, []
    measure_entries = []
    for config in configs:
        if config == MEASURES:
            try:
                measure_entries.append(run_measures(zoo_bench, args, 1 if args.quick else args.measure_repeats))
            except BenchError as error:
                log(f"FAILED {config}: {error}")
                failed.append(config)
            continue
        steps, warmup = QUICK_STEPS if args.quick else CONFIGS[config]
        steps, warmup = args.steps or steps, args.warmup if args.warmup is not None else warmup
        try:
            runs = measure(config, sides(config, zoo_bench, steps, warmup, args.threads, paths), repeats, not args.quick, args.threads)
        except BenchError as error:
            log(f"FAILED {config}: {error}")
            failed.append(config)
            continue
        for path in paths:
            entries[path].append(entry(config, runs, steps, warmup, args.threads, repeats, path))
    load_after = os.getloadavg()
    torch_baseline_mb = run_child([VENV_PYTHON, "-c", "import torch"], args.threads)[1]
    peaks = {path: add_peak_fractions(entries[path]) for path in paths}
    for e in (e for path in paths for e in entries[path]):
        e["loadavg_1min_before"], e["loadavg_1min_after"] = load_before[0], load_after[0]
        e["torch_import_rss_mb"] = torch_baseline_mb
    for e in measure_entries:
        e["loadavg_1min_before"], e["loadavg_1min_after"] = load_before[0], load_after[0]
    with open(args.out, "w") as f:
        json.dump({"kernel_paths": entries, "measures": measure_entries, "cpu": cpu_model(), "paths_available": processor_paths()}, f, indent=1)
    for path in paths:
        if entries[path]:
            print_table(entries[path], peaks[path], args.threads, repeats, path)
    for e in measure_entries:
        print_measure_table(e)
    print(f"peak RSS of a process that only imports torch: {torch_baseline_mb:.0f} MB")
    print(f"\nload average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, on {os.cpu_count()} CPUs"
          + ("  — the machine was busy: timings are noisy" if max(load_before[0], load_after[0]) > 0.5 * (os.cpu_count() or 1) else ""))
    print(f"wrote {args.out}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
