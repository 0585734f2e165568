"""The cheap measures of `zoo-bench --measures` as a plain PyTorch loop over checkpoints.

    bench/.venv/bin/python bench/torch_measures.py --checkpoint-dir DIR [--checkpoints K]
        [--sample-size N] [--repeats R] [--threads T] [--measures a,b] [--json]

Reads the checkpoints `zoo-bench --measures` wrote in DIR (`seed-K.safetensors`, and
`seed-K-init.safetensors` for the distances from initialization; Zoo's parameter names
`module_list.I.weight` are the PyTorch twin's `I.weight`) and the first N Fashion-MNIST training
images from the IDX files (`$ZOO_DATA`, `$ZOO_DATA/fashion-mnist` or Debian's
/usr/share/datasets/fashion-mnist), as Zoo's loader does: pixels / 255.

Each measure is computed for one checkpoint after another, in evaluation mode, the whole sample in
one batch, by the formula of the Zoo measure of the same name (Sources/ZooMeasures): size, norms
(Frobenius, spectral, distance from initialization, path norm, Fisher-Rao, over the margin),
outputs, weight statistics, Hessian trace (Hutchinson) and top eigenvalue (power iteration).
Per measure: an untimed call on the first checkpoint, then R timed passes over every checkpoint
(one pass when the first takes longer than --single-run-above seconds); the median is reported.

Like with like: `log_prod_of_spec` and the measures built on it take a convolution's operator norm
on the input size the layer sees, as Zoo does, here by power iteration on AᵀA (conv2d, then
conv_transpose2d with the same kernel) with Zoo's iteration cap and stopping rule (Zoo uses
Lanczos, which converges faster); `log_prod_of_spec_reshaped` takes torch.linalg.matrix_norm(ord=2)
of the kernel reshaped to [out, in·kh·kw]. Linear layers use matrix_norm(ord=2) in both.
"""

import argparse
import gzip
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, jvp

import torch_models

CONFIG = "measures-zoo-cnn-torch"
ZOO_PREFIX = "module_list."
DTYPES = {"F32": np.float32, "F64": np.float64}

# Zoo's defaults (Sources/ZooMeasures: Output.swift `percentile`, Norms.swift `spectralDefaults`,
# Hessian.swift `draws`, `iterations`, `tolerance`). bench/compare.py passes the values it reads
# from zoo-bench's result lines, so a changed default follows.
DEFAULTS = {"percentile": 10.0, "spectral_iterations": 100, "spectral_tolerance": 1e-6,
            "hessian_draws": 20, "power_iterations": 20, "power_tolerance": 1e-3}


# MARK: - Inputs


def read_safetensors(path):
    """The tensors of a safetensors file (F32/F64), without the safetensors package."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    base, out = 8 + n, {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[base + begin:base + end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        out[name] = torch.from_numpy(array.astype(np.float32))
    return out


def fashion_mnist_train(count):
    """The first `count` training images [count, 1, 28, 28] (pixels / 255) and their labels."""
    places = []
    if os.environ.get("ZOO_DATA"):
        places += [os.environ["ZOO_DATA"], os.path.join(os.environ["ZOO_DATA"], "fashion-mnist")]
    places.append("/usr/share/datasets/fashion-mnist")

    def read(folder, name):
        for path in (os.path.join(folder, name + ".gz"), os.path.join(folder, name)):
            if os.path.exists(path):
                with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
                    return f.read()
        return None

    for folder in places:
        images, labels = read(folder, "train-images-idx3-ubyte"), read(folder, "train-labels-idx1-ubyte")
        if images is None or labels is None:
            continue
        rows, height, width = struct.unpack(">III", images[4:16])
        count = min(count, rows)
        x = np.frombuffer(images, dtype=np.uint8, count=count * height * width, offset=16)
        x = x.astype(np.float32).reshape(count, 1, height, width) / np.float32(255)
        y = np.frombuffer(labels, dtype=np.uint8, count=count, offset=8).astype(np.int64)
        return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())
    raise SystemExit(f"Fashion-MNIST not found in {', '.join(places)} (sudo apt-get install dataset-fashion-mnist)")


def torch_names(state):
    return {name.removeprefix(ZOO_PREFIX): tensor for name, tensor in state.items()}


def load_checkpoints(folder, count):
    """Per checkpoint: the twin in evaluation mode with the checkpoint's weights, and its initial weights."""
    models, initials = [], []
    for k in range(count):
        model = torch_models.zoo_cnn()
        model.load_state_dict(torch_names(read_safetensors(os.path.join(folder, f"seed-{k}.safetensors"))))
        models.append(model.eval())
        initials.append(torch_names(read_safetensors(os.path.join(folder, f"seed-{k}-init.safetensors"))))
    return models, initials


# MARK: - Pieces


def weight_layers(model):
    """(name, module) of the convolution and linear layers, in order (Zoo's layers)."""
    return [(name, m) for name, m in model.named_children() if isinstance(m, (nn.Conv2d, nn.Linear))]


def logits_of(model, x):
    with torch.inference_mode():
        return model(x)


def margins(logits, y):
    """f(x)_y − max_{j≠y} f(x)_j per row."""
    correct = logits.gather(1, y[:, None])[:, 0]
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
    return correct - others


def margin(model, x, y, s):
    """The `percentile`-th percentile of the row margins (linear interpolation, numpy's default)."""
    return torch.quantile(margins(logits_of(model, x), y).double(), s["percentile"] / 100).item()


def frobenius_norms(model):
    return [torch.linalg.vector_norm(m.weight).item() for _, m in weight_layers(model)]


def log_product_of_squares(norms):
    return sum(2 * math.log(n) for n in norms)


def geometric_sum(norms):
    return len(norms) * math.exp(log_product_of_squares(norms) / len(norms))


def over_margin(log_value, gamma):
    return log_value - 2 * math.log(gamma) if gamma > 0 else math.inf


def input_shapes(model, x):
    """The input shape (one sample) of each weight layer, from running one sample."""
    shapes, handles = {}, []
    for name, m in weight_layers(model):
        handles.append(m.register_forward_hook(lambda mod, inputs, out, name=name: shapes.__setitem__(name, inputs[0].shape[1:])))
    with torch.inference_mode():
        model(x[:1])
    for h in handles:
        h.remove()
    return shapes


def largest_eigenvalue(apply, v, steps, tolerance):
    """Power iteration on a PSD operator with Zoo's stop: growth ≤ tolerance·estimate twice in a row."""
    v = v / torch.linalg.vector_norm(v)
    estimate, quiet = 0.0, 0
    for _ in range(steps):
        w = apply(v)
        nxt = torch.dot(w.flatten(), v.flatten()).item()
        growth, estimate = nxt - estimate, nxt
        quiet = quiet + 1 if growth <= tolerance * abs(nxt) else 0
        norm = torch.linalg.vector_norm(w)
        if quiet >= 2 or norm == 0:
            break
        v = w / norm
    return estimate


def spectral_norms(model, x, s, k, reshaped):
    """‖A_i‖₂ per layer: reshaped kernels, or convolutions' operator norms on their input size."""
    shapes = {} if reshaped else input_shapes(model, x)
    generator = torch.Generator().manual_seed(1000 + k)
    out = []
    with torch.inference_mode():
        for name, m in weight_layers(model):
            w = m.weight
            if reshaped or isinstance(m, nn.Linear):
                out.append(torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item())
                continue
            v = torch.randn((1,) + tuple(shapes[name]), generator=generator)
            lam = largest_eigenvalue(lambda v: F.conv_transpose2d(F.conv2d(v, w), w), v,
                                     int(s["spectral_iterations"]), s["spectral_tolerance"])
            out.append(math.sqrt(max(0.0, lam)))
    return out


def exact_operator_norms(model, x):
    """‖A_i‖₂ of each layer exactly: a convolution's dense matrix on its input size, then its SVD."""
    shapes, out = input_shapes(model, x), []
    with torch.inference_mode():
        for name, m in weight_layers(model):
            if isinstance(m, nn.Linear):
                out.append(torch.linalg.matrix_norm(m.weight.double(), ord=2).item())
                continue
            n = math.prod(shapes[name])
            basis = torch.eye(n, dtype=torch.float64).reshape((n,) + tuple(shapes[name]))
            dense = F.conv2d(basis, m.weight.double()).reshape(n, -1)
            out.append(torch.linalg.matrix_norm(dense, ord=2).item())
    return out


def distances_from_init(model, initial):
    return [torch.linalg.vector_norm(m.weight - initial[f"{name}.weight"]).item() for name, m in weight_layers(model)]


def parameter_distance_squared(model, initial):
    return sum(torch.sum((p - initial[name]) ** 2).item() for name, p in model.named_parameters())


_SKELETON = None


def path_norm(model, x):
    """Σ f_{w²}(1): the twin with squared parameters and identity activations (Zoo's linear
    skeleton; max pooling kept) on one input of ones."""
    global _SKELETON
    if _SKELETON is None:
        _SKELETON = nn.Sequential(*[nn.Identity() if isinstance(m, nn.Tanh) else m for m in torch_models.zoo_cnn()]).eval()
    with torch.inference_mode():
        squared = {name: p * p for name, p in model.named_parameters()}
        return functional_call(_SKELETON, squared, (torch.ones((1,) + tuple(x.shape[1:])),)).sum().item()


def fisher_rao_mean_square(model, x, y):
    """(1/m) Σ_i ⟨w, ∇_w ℓ_i⟩², each row's directional derivative along w by forward mode (jvp)."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    rows = lambda p: F.cross_entropy(functional_call(model, p, (x,)), y, reduction="none")
    _, directional = jvp(rows, (params,), (params,))
    return torch.mean(directional.double() ** 2).item()


def loss_and_gradient_graph(model, x, y):
    params = [p for p in model.parameters()]
    loss = F.cross_entropy(model(x), y)
    return params, torch.autograd.grad(loss, params, create_graph=True)


def hessian_vector(params, grads, v):
    return torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)


def flat_dot(a, b):
    return sum(torch.sum(p * q) for p, q in zip(a, b)).item()


def hessian_trace(model, x, y, s, k):
    """Hutchinson: mean over `draws` Rademacher v of vᵀHv, and its standard error."""
    params, grads = loss_and_gradient_graph(model, x, y)
    generator = torch.Generator().manual_seed(2000 + k)
    samples = []
    for _ in range(int(s["hessian_draws"])):
        v = [torch.randint(0, 2, p.shape, generator=generator).float() * 2 - 1 for p in params]
        samples.append(flat_dot(v, hessian_vector(params, grads, v)))
    mean = statistics.fmean(samples)
    se = statistics.stdev(samples) / math.sqrt(len(samples)) if len(samples) > 1 else 0.0
    return {"": mean, "standard_error": se}


def hessian_top_eigenvalue(model, x, y, s, k):
    """Power iteration on H (Rayleigh quotient, Zoo's stopping rule); when the eigenvalue of
    largest magnitude is negative, a second iteration on H − λI (as Zoo does)."""
    params, grads = loss_and_gradient_graph(model, x, y)
    generator = torch.Generator().manual_seed(3000 + k)
    iterations, tolerance = int(s["power_iterations"]), s["power_tolerance"]

    def power(shift):
        v = [torch.randn(p.shape, generator=generator) for p in params]
        norm = math.sqrt(flat_dot(v, v))
        v = [t / norm for t in v]
        value = 0.0
        for step in range(1, iterations + 1):
            hv = [h - shift * t for h, t in zip(hessian_vector(params, grads, v), v)]
            estimate, norm = flat_dot(v, hv), math.sqrt(flat_dot(hv, hv))
            settled = step > 1 and abs(estimate - value) <= tolerance * abs(estimate)
            value = estimate
            if norm == 0:
                break
            v = [t / norm for t in hv]
            if settled:
                break
        return value

    value = power(0.0)
    return value if value >= 0 else value + power(value)


def weight_statistics(model):
    """Per tensor: mean, variance, skew, excess kurtosis, percentiles 1/25/50/75/99, ℓ₂ (float64);
    the own value is ‖w‖₂ over every parameter."""
    out, total = {}, 0.0
    for name, p in model.named_parameters():
        x = p.detach().double().flatten()
        mean = x.mean()
        d = x - mean
        m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
        out[f"{name}.mean"], out[f"{name}.variance"] = mean.item(), m2.item()
        out[f"{name}.skew"] = (m3 / m2 ** 1.5).item() if m2 > 0 else 0.0
        out[f"{name}.kurtosis"] = (m4 / m2 ** 2 - 3).item() if m2 > 0 else 0.0
        for q, v in zip((1, 25, 50, 75, 99), torch.quantile(x, torch.tensor([0.01, 0.25, 0.5, 0.75, 0.99], dtype=torch.float64))):
            out[f"{name}.p{q}"] = v.item()
        l2 = torch.linalg.vector_norm(x).item()
        out[f"{name}.l2"] = l2
        total += l2 * l2
    out[""] = math.sqrt(total)
    return out


# MARK: - The measures, by Zoo's names


def measures():
    """name -> (family, function(model, initial, x, y, settings, k) -> value or {key: value})."""
    def spec(m, x, s, k):
        return spectral_norms(m, x, s, k, reshaped=False)

    def spec_bound(m, i, x, y, s, k, reference):
        norms, gamma = spec(m, x, s, k), margin(m, x, y, s)
        ratio = sum(r * r / (n * n) for r, n in zip(reference(m, i), norms))
        return over_margin(log_product_of_squares(norms) + math.log(ratio), gamma)

    return {
        "parameter_count": ("size", lambda m, i, x, y, s, k: float(sum(p.numel() for p in m.parameters()))),
        "log_prod_of_fro": ("norm", lambda m, i, x, y, s, k: log_product_of_squares(frobenius_norms(m))),
        "sum_of_fro": ("norm", lambda m, i, x, y, s, k: geometric_sum(frobenius_norms(m))),
        "log_fro_over_margin": ("norm", lambda m, i, x, y, s, k:
                                over_margin(log_product_of_squares(frobenius_norms(m)), margin(m, x, y, s))),
        "frobenius_distance": ("norm", lambda m, i, x, y, s, k: sum(d * d for d in distances_from_init(m, i))),
        "distance_from_init": ("norm", lambda m, i, x, y, s, k: math.sqrt(parameter_distance_squared(m, i))),
        "dist_over_margin": ("norm", lambda m, i, x, y, s, k: (lambda g: parameter_distance_squared(m, i) / (g * g) if g > 0 else math.inf)(margin(m, x, y, s))),
        "log_prod_of_spec": ("norm", lambda m, i, x, y, s, k: log_product_of_squares(spec(m, x, s, k))),
        "log_prod_of_spec_reshaped": ("norm", lambda m, i, x, y, s, k: log_product_of_squares(spectral_norms(m, x, s, k, reshaped=True))),
        "sum_of_spec": ("norm", lambda m, i, x, y, s, k: geometric_sum(spec(m, x, s, k))),
        "log_spec_over_margin": ("norm", lambda m, i, x, y, s, k:
                                 over_margin(log_product_of_squares(spec(m, x, s, k)), margin(m, x, y, s))),
        "log_spec_init": ("norm", lambda m, i, x, y, s, k: spec_bound(m, i, x, y, s, k, distances_from_init)),
        "log_spec_orig": ("norm", lambda m, i, x, y, s, k: spec_bound(m, i, x, y, s, k, lambda m, i: frobenius_norms(m))),
        "path_norm": ("norm", lambda m, i, x, y, s, k: path_norm(m, x)),
        "path_norm_over_margin": ("norm", lambda m, i, x, y, s, k: (lambda g: path_norm(m, x) / (g * g) if g > 0 else math.inf)(margin(m, x, y, s))),
        "fisher_rao_norm": ("norm", lambda m, i, x, y, s, k:
                            (lambda ms: {"": (len(weight_layers(m)) + 1) ** 2 * ms, "mean_square": ms})(fisher_rao_mean_square(m, x, y))),
        "cross_entropy": ("output", lambda m, i, x, y, s, k: F.cross_entropy(logits_of(m, x), y).item()),
        "accuracy": ("output", lambda m, i, x, y, s, k: (logits_of(m, x).argmax(1) == y).double().mean().item()),
        "margin": ("output", lambda m, i, x, y, s, k: margin(m, x, y, s)),
        "inverse_margin": ("output", lambda m, i, x, y, s, k: (lambda g: 1 / (g * g) if g > 0 else math.inf)(margin(m, x, y, s))),
        "output_entropy": ("output", lambda m, i, x, y, s, k:
                           (lambda l: -(l.exp() * l).sum(1).mean().item())(F.log_softmax(logits_of(m, x), 1))),
        "hessian_trace": ("flatness", lambda m, i, x, y, s, k: hessian_trace(m, x, y, s, k)),
        "hessian_top_eigenvalue": ("flatness", lambda m, i, x, y, s, k: hessian_top_eigenvalue(m, x, y, s, k)),
        "weight_statistics": ("weights", lambda m, i, x, y, s, k: weight_statistics(m)),
    }


# The measures that differentiate; the others run under torch.no_grad().
NEEDS_GRADIENTS = {"fisher_rao_norm", "hessian_trace", "hessian_top_eigenvalue"}


def finite_or_none(v):
    return v if v is not None and math.isfinite(v) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint-dir", required=True, help="the folder zoo-bench --measures wrote")
    parser.add_argument("--checkpoints", type=int, default=64)
    parser.add_argument("--sample-size", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the checkpoints per measure (median)")
    parser.add_argument("--single-run-above", type=float, default=60.0, help="seconds: a longer first pass is not repeated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--measures", help="comma-separated Zoo measure names (default: all here); names not implemented here are skipped")
    parser.add_argument("--exact-spectral", type=int, default=4,
                        help="checkpoints whose exact log_prod_of_spec (dense SVD) is reported as a reference line")
    parser.add_argument("--json", action="store_true")
    for key, value in DEFAULTS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=value)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = {key: getattr(args, key) for key in DEFAULTS}

    models, initials = load_checkpoints(args.checkpoint_dir, args.checkpoints)
    x, y = fashion_mnist_train(args.sample_size)
    table = measures()
    names = [n.strip() for n in args.measures.split(",")] if args.measures else list(table)
    missing = [n for n in names if n not in table]
    if missing:
        print(f"not in PyTorch (skipped): {', '.join(missing)}", file=sys.stderr)
    names = [n for n in names if n in table]

    def emit(line):
        line = {"config": CONFIG, **line}
        print(json.dumps(line) if args.json else "  ".join(f"{k} {v}" for k, v in line.items() if k != "values"), flush=True)

    family_seconds = {}
    for name in names:
        family, fn = table[name]
        grad_mode = torch.enable_grad if name in NEEDS_GRADIENTS else torch.no_grad

        def call(k):
            with grad_mode():
                return fn(models[k], initials[k], x, y, settings, k)
        call(0)  # untimed warm-up
        runs = []
        for r in range(args.repeats):
            start = time.perf_counter()
            values = [call(k) for k in range(len(models))]
            runs.append(time.perf_counter() - start)
            if r == 0 and runs[0] > args.single_run_above:
                break
        median = statistics.median(runs)
        family_seconds.setdefault(family, []).append(median)
        line = {"kind": "measure", "family": family, "measure": name, "seconds_per_checkpoint": median / len(models),
                "seconds": median, "min_seconds": min(runs), "runs": len(runs), "checkpoints": len(models),
                "sample_size": len(y), "threads": args.threads,
                "values": [finite_or_none(v[""] if isinstance(v, dict) else v) for v in values]}
        if values and isinstance(values[0], dict) and "standard_error" in values[0]:
            line["standard_error"] = [v["standard_error"] for v in values]
        emit(line)
    for family, seconds in family_seconds.items():
        emit({"kind": "family", "family": family, "seconds_per_checkpoint": sum(seconds) / len(models),
              "seconds": sum(seconds), "measures": len(seconds), "checkpoints": len(models), "sample_size": len(y)})
    exact = min(args.exact_spectral, len(models))
    if exact > 0 and "log_prod_of_spec" in names:
        emit({"kind": "reference", "measure": "log_prod_of_spec", "method": "dense operator matrix, SVD (float64)",
              "values": [log_product_of_squares(exact_operator_norms(models[k], x)) for k in range(exact)]})


if __name__ == "__main__":
    main()
