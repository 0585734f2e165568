"""Load a Zoo store from Python with only sqlite3, safetensors and numpy.

    python3 docs/load_zoo.py runs/zoo.sqlite

The store is a plain SQLite file: `runs` (id, canonical config JSON, status, ...), `metrics`
(one row per run and epoch), `checkpoints` (paths relative to STORE.checkpoints/ and their
SHA-256). Checkpoints are safetensors files holding the model's state dict under PyTorch names
plus the optimizer state under `optimizer.*`.
"""
import hashlib
import json
import os
import sqlite3
import sys

import numpy as np
from safetensors.numpy import load_file


def load(store):
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    runs = {r["id"]: dict(r) for r in db.execute("SELECT * FROM runs ORDER BY id")}
    for run in runs.values():
        run["config"] = json.loads(run["config"])
        run["metrics"] = []
        run["checkpoints"] = []
    for m in db.execute("SELECT * FROM metrics ORDER BY run_id, epoch"):
        row = dict(m)
        # SQLite cannot hold NaN; Zoo lists the columns that were NaN.
        for name in filter(None, row.pop("nan_columns").split(",")):
            row[name] = float("nan")
        runs[row["run_id"]]["metrics"].append(row)
    folder = store + ".checkpoints"
    for c in db.execute("SELECT * FROM checkpoints ORDER BY run_id, epoch"):
        runs[c["run_id"]]["checkpoints"].append(dict(c, path=os.path.join(folder, c["path"])))
    return runs


def main(store):
    runs = load(store)
    for run_id, run in runs.items():
        final = run["metrics"][-1] if run["metrics"] else {}
        line = f"{run_id} {run['status']} seed={run['config'].get('seed')} lr={run['config'].get('lr')}"
        line += f" epochs={len(run['metrics'])} test_accuracy={final.get('test_accuracy')}"
        if run["checkpoints"]:
            last = run["checkpoints"][-1]
            with open(last["path"], "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == last["sha256"], f"checksum mismatch: {last['path']}"
            weights = {k: v for k, v in load_file(last["path"]).items() if not k.startswith("optimizer.")}
            norm = float(np.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for v in weights.values())))
            line += f" checkpoint_epoch={last['epoch']} tensors={len(weights)} weight_norm={norm:.4f}"
        print(line)


if __name__ == "__main__":
    main(sys.argv[1])
