"""The benchmark configurations of `zoo-bench --config` in PyTorch; prints one JSON line.

    bench/.venv/bin/python bench/torch_bench.py --config NAME [--steps S] [--warmup W] [--threads T]

A training step is what Zoo times: forward in training mode, cross-entropy, gradients of every
parameter (backward) and an SGD update (lr 0.01, momentum 0.9), on one fixed batch of standard
normal inputs with labels i % 10. W untimed warm-up steps come before the S timed ones.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F

import torch_models

# config -> (kind, model, batch)
CONFIGS = {
    "zoo-cnn-b32": ("train", "zoo-cnn", 32),
    "zoo-cnn-b128": ("train", "zoo-cnn", 128),
    "lenet5-b128": ("train", "lenet5", 128),
    "mlp-b128": ("train", "mlp", 128),
    "resnet20-b128": ("train", "resnet20", 128),
    "cnn1d-b128": ("train", "cnn1d", 128),
    "zoo-cnn-infer-b1024": ("infer", "zoo-cnn", 1024),
    "gemm-peak": ("gemm", None, 2048),
    "population-zoo-cnn-64-torch-sequential": ("population", "sequential", 32),
    "population-zoo-cnn-64-torch-vmap": ("population", "vmap", 32),
    "population-zoo-cnn-64-torch-procs": ("population", "procs", 32),
}
POPULATION_MEMBERS = 64
LEARNING_RATE, MOMENTUM = 0.01, 0.9


def fixed_batch(model_name, batch, seed=0):
    shape = torch_models.MODELS[model_name][0]
    g = torch.Generator().manual_seed(seed)
    return torch.randn((batch,) + shape, generator=g), torch.arange(batch) % 10


def timed_steps(warmup, steps, body):
    """Runs body(i) warmup times untimed, then steps times; returns the timed seconds."""
    for i in range(warmup):
        body(i)
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):
        body(i)
    return time.perf_counter() - start


def result(samples, seconds, **extra):
    return {"samples_per_s": samples / seconds, "seconds": seconds, "samples": samples, **extra}


def measure_training(model_name, batch, steps, warmup):
    torch.manual_seed(0)
    model = torch_models.make(model_name).train()
    x, y = fixed_batch(model_name, batch)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    last = {}

    def step(_):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        last["loss"] = loss.detach()

    seconds = timed_steps(warmup, steps, step)
    flops = torch_models.forward_flops_per_sample(model, torch_models.MODELS[model_name][0])
    return result(batch * steps, seconds, params=torch_models.parameter_count(model), batch=batch,
                  final_loss=last["loss"].item(), forward_flops_per_sample=flops)


def measure_inference(model_name, batch, steps, warmup):
    torch.manual_seed(0)
    model = torch_models.make(model_name).eval()
    x, _ = fixed_batch(model_name, batch)
    checksum = torch.zeros(())

    def step(_):
        with torch.inference_mode():
            checksum.add_(model(x)[0, 0])

    seconds = timed_steps(warmup, steps, step)
    return result(batch * steps, seconds, params=torch_models.parameter_count(model), batch=batch,
                  checksum=checksum.item())


def measure_gemm(size, steps, warmup):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    checksum = torch.zeros(())

    def step(_):
        checksum.add_(torch.mm(a, b)[0, 0])

    seconds = timed_steps(warmup, steps, step)
    return result(steps, seconds, gflops=2 * size ** 3 * steps / seconds / 1e9, size=size, checksum=checksum.item())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, choices=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=20, help="timed steps (per member for populations)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads; processes for -procs")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry with zoo-bench; output is always JSON")
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--steps and --threads must be at least 1, --warmup at least 0")
    torch.set_num_threads(args.threads)
    kind, what, batch = CONFIGS[args.config]
    if kind == "train":
        out = measure_training(what, batch, args.steps, args.warmup)
    elif kind == "infer":
        out = measure_inference(what, batch, args.steps, args.warmup)
    elif kind == "gemm":
        out = measure_gemm(batch, args.steps, args.warmup)
    else:
        import torch_population
        out = torch_population.measure(what, POPULATION_MEMBERS, batch, args.steps, args.warmup, args.threads)
    out.update(steps=args.steps, warmup=args.warmup, threads=args.threads, torch=torch.__version__)
    print(json.dumps({"config": args.config, **out}))


if __name__ == "__main__":
    main()
