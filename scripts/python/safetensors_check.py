"""Interop check between Zoo and the real `safetensors` package (used by the Swift tests).

    python3 safetensors_check.py load FILE   -> prints {"metadata": {...}, "tensors": {name: {"shape", "sum", "first"}}} as JSON
    python3 safetensors_check.py save FILE   -> writes a file with float32 and float64 tensors and metadata
"""
import json
import math
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def number(x):
    """JSON has no infinities or NaN: name them as strings."""
    return x if math.isfinite(x) else str(x)


def load(path):
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
    out = {name: {"shape": list(t.shape), "dtype": str(t.dtype), "sum": number(float(t.astype(np.float64).sum())),
                  "first": number(float(t.reshape(-1)[0])) if t.size else None}
           for name, t in tensors.items()}
    print(json.dumps({"metadata": metadata, "tensors": out}, sort_keys=True))


def save(path):
    tensors = {
        "layer.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
        "layer.bias": np.array([-1.5, 2.25], dtype=np.float64),
        "scalar": np.array(3.0, dtype=np.float32),
    }
    save_file(tensors, path, metadata={"written_by": "python", "epoch": "7"})


if __name__ == "__main__":
    {"load": load, "save": save}[sys.argv[1]](sys.argv[2])
