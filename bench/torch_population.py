"""Three ways to train a population of zoo-cnn models in PyTorch, for `population-zoo-cnn-64-torch-*`.

Member m has its own seed (initial weights), learning rate (0.005 · 4^(m / (M − 1)), momentum
0.9) and fixed random batch (inputs from seed 1000 + m, labels (i + m) % 10), and trains S steps.
Throughput is member-samples per second: members × batch × S / seconds.

- sequential: the members one after another, each with its own model and torch.optim.SGD;
- vmap: all members at once, torch.func.functional_call + vmap + grad over parameters stacked
  on a leading member axis, and a hand-written SGD-with-momentum update of the stacks;
- procs: T single-threaded processes side by side, each training members m ≡ rank (mod T) one
  after another; the time is from the first start to the last end (one monotonic clock), and
  `total_peak_rss_mb` adds every process's own peak.
"""

import multiprocessing
import queue
import resource
import time

import torch
import torch.nn.functional as F

import torch_models

MOMENTUM = 0.9


def learning_rate(m, members):
    return 0.005 * 4 ** (m / max(members - 1, 1))


def member_model(m):
    torch.manual_seed(m)
    return torch_models.zoo_cnn().train()


def member_batch(m, batch):
    g = torch.Generator().manual_seed(1000 + m)
    return torch.randn(batch, 1, 28, 28, generator=g), (torch.arange(batch) + m) % 10


def train_member(model, lr, x, y, steps):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def train_one_after_another(ms, members, batch, steps, warmup, ready=lambda: None):
    """Trains members `ms` in turn after an untimed warm-up on a throwaway model and a call of
    `ready`; returns the monotonic (start, end) of the timed part."""
    models = {m: member_model(m) for m in ms}
    data = {m: member_batch(m, batch) for m in ms}
    train_member(member_model(members), learning_rate(0, members), *member_batch(members, batch), warmup)
    ready()
    start = time.monotonic()
    for m in ms:
        train_member(models[m], learning_rate(m, members), *data[m], steps)
    return start, time.monotonic()


def sequential(members, batch, steps, warmup):
    start, end = train_one_after_another(range(members), members, batch, steps, warmup)
    return members * batch * steps, end - start, {}


def vmapped(members, batch, steps, warmup):
    from torch.func import functional_call, grad, vmap

    base = torch_models.zoo_cnn()
    models = [member_model(m) for m in range(members)]
    names = [n for n, _ in base.named_parameters()]
    params = {n: torch.stack([dict(model.named_parameters())[n].detach() for model in models]) for n in names}
    velocity = {n: torch.zeros_like(p) for n, p in params.items()}
    rates = torch.tensor([learning_rate(m, members) for m in range(members)])
    rate_of = {n: rates.view(-1, *[1] * (p.dim() - 1)) for n, p in params.items()}
    batches = [member_batch(m, batch) for m in range(members)]
    xs, ys = torch.stack([x for x, _ in batches]), torch.stack([y for _, y in batches])

    def loss(p, x, y):
        return F.cross_entropy(functional_call(base, p, (x,)), y)

    member_gradients = vmap(grad(loss))

    def step():
        g = member_gradients(params, xs, ys)
        for n in names:  # torch.optim.SGD's momentum: b ← μb + g (b = g first), p ← p − ηb
            velocity[n].mul_(MOMENTUM).add_(g[n])
            params[n].sub_(rate_of[n] * velocity[n])

    for _ in range(warmup):
        step()
    start = time.monotonic()
    for _ in range(steps):
        step()
    return members * batch * steps, time.monotonic() - start, {}


def _worker(rank, procs, members, batch, steps, warmup, barrier, results):
    torch.set_num_threads(1)
    ms = range(rank, members, procs)
    start, end = train_one_after_another(ms, members, batch, steps, warmup, ready=barrier.wait)
    results.put((start, end, len(ms) * batch * steps, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def processes(members, batch, steps, warmup, procs):
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(r, procs, members, batch, steps, warmup, barrier, results)) for r in range(procs)]
    for w in workers:
        w.start()
    got = []
    while len(got) < procs:
        try:
            got.append(results.get(timeout=1))
        except queue.Empty:
            failed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if failed:
                raise RuntimeError(f"a population worker process failed with exit code {failed[0]}")
    for w in workers:
        w.join()
    seconds = max(e for _, e, _, _ in got) - min(s for s, _, _, _ in got)
    total_kb = sum(rss for *_, rss in got) + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return sum(n for _, _, n, _ in got), seconds, {"processes": procs, "total_peak_rss_mb": total_kb / 1024}


def measure(way, members, batch, steps, warmup, threads):
    if way == "sequential":
        samples, seconds, extra = sequential(members, batch, steps, warmup)
    elif way == "vmap":
        samples, seconds, extra = vmapped(members, batch, steps, warmup)
    else:
        samples, seconds, extra = processes(members, batch, steps, warmup, threads)
    return {"samples_per_s": samples / seconds, "seconds": seconds, "samples": samples,
            "members": members, "batch": batch, "way": way, **extra}
