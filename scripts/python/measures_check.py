"""Independent numpy reference for Zoo's weight statistics and layer norms (used by the Swift tests).

    python3 measures_check.py FILE   -> prints {"tensors": {name: {...}}} as JSON

For every tensor of the safetensors checkpoint FILE, in float64: mean, variance (ddof 0), skew
and excess kurtosis (moment estimators, 0 for a constant tensor), percentiles 1/25/50/75/99
(numpy's default linear interpolation), the l2 (Frobenius) norm, and for tensors of rank >= 2
the spectral norm of the tensor as a matrix [out, rest] (np.linalg.norm(W, 2): for a linear
weight its spectral norm, for a convolution kernel the reshaped-kernel norm).
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def statistics(t):
    x = t.astype(np.float64).reshape(-1)
    mean = x.mean()
    d = x - mean
    m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
    out = {
        "mean": mean,
        "variance": x.var(),
        "skew": m3 / m2 ** 1.5 if m2 > 0 else 0.0,
        "kurtosis": m4 / m2 ** 2 - 3 if m2 > 0 else 0.0,
        "l2": np.linalg.norm(x),
    }
    for p in (1, 25, 50, 75, 99):
        out[f"p{p}"] = np.percentile(x, p)
    if t.ndim >= 2:
        out["spectral"] = np.linalg.norm(t.astype(np.float64).reshape(t.shape[0], -1), 2)
    return {k: float(v) for k, v in out.items()}


def main(path):
    tensors = load_file(path)
    print(json.dumps({"tensors": {name: statistics(t) for name, t in tensors.items()}}, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
