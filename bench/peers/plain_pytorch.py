"""The fastest peer of docs/performance.md, plain PyTorch, on the same four workloads as `Snn.Bench`, so both can be
timed on the same machine in the same minutes (the machine's speed drifts by up to 30 % within minutes, so only
alternating runs compare).

Usage: python3 plain_pytorch.py w1|w1-inference|w2|w3 [per-step|at-once] [channels-last]

- per-step: the layers run one time step at a time (x_t -> layer -> LIF state), as snnTorch does;
- at-once (the default for W1 and W3): each layer runs over all T x B rows at once and only the LIF recurrence
  loops over time, as SpikingJelly's multi-step mode does;
- channels-last (W2): the convolution weights in channels-last memory format, which oneDNN runs faster here.

The workloads are `Snn.Bench`'s (bench/Snn.Bench/Workloads.fs): Bernoulli(0.1) input spikes in 4 pre-generated
batches cycled, LIF v += (x - v) / 2 with threshold 1, hard reset to 0 and a sigmoid surrogate (alpha = 4), every
Linear / Conv weight and bias x 8 after PyTorch's default initialisation, Adam(1e-3), cross-entropy on the mean
output spikes (W3: on the maximum over time of a leaky readout). One step = zero grad + forward + loss + backward +
optimizer step; the median of 20 steps after 3 warm-ups, and the peak resident memory of the process.
"""

import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

TAU, THRESHOLD, ALPHA = 2.0, 1.0, 4.0


class SigmoidSpike(torch.autograd.Function):
    """Heaviside forward; derivative of sigmoid(alpha x) backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(ALPHA * x)
        return grad * ALPHA * s * (1 - s)


def lif_step(v, x):
    """One forward-Euler step of the LIF membrane from v (None: at rest): charge, spike, hard reset. Returns
    (spike, new v)."""
    if v is None:
        v = torch.zeros_like(x)
    v = v + (x - v) / TAU
    spike = SigmoidSpike.apply(v - THRESHOLD)
    return spike, v * (1 - spike)


def lif_over_time(x):
    """[T, ...] input currents -> [T, ...] spikes, from rest."""
    v = None
    out = []
    for t in range(x.shape[0]):
        s, v = lif_step(v, x[t])
        out.append(s)
    return torch.stack(out)


def scaled(layer):
    with torch.no_grad():
        layer.weight.mul_(8.0)
        if layer.bias is not None:
            layer.bias.mul_(8.0)
    return layer


class Stacked(nn.Module):
    """W1 / W3 body: Linear -> LIF per consecutive pair of sizes, over [T, B, N]."""

    def __init__(self, sizes, per_step):
        super().__init__()
        self.fcs = nn.ModuleList(scaled(nn.Linear(a, b)) for a, b in zip(sizes, sizes[1:]))
        self.per_step = per_step

    def forward(self, x):
        if not self.per_step:
            for fc in self.fcs:
                x = lif_over_time(fc(x))
            return x
        vs = [None] * len(self.fcs)
        out = []
        for t in range(x.shape[0]):
            h = x[t]
            for i, fc in enumerate(self.fcs):
                c = fc(h)
                h, vs[i] = lif_step(vs[i], c)
            out.append(h)
        return torch.stack(out)


class W3Net(nn.Module):
    """700 -> 256 LIF -> 256 LIF -> Linear 256 -> 20 -> leaky readout v_t = v_{t-1} + (x_t - v_{t-1}) / 2."""

    def __init__(self, per_step):
        super().__init__()
        self.body = Stacked([700, 256, 256], per_step)
        self.fc = scaled(nn.Linear(256, 20))

    def forward(self, x):
        c = self.fc(self.body(x))
        v = torch.zeros_like(c[0])
        out = []
        for t in range(c.shape[0]):
            v = v + (c[t] - v) / TAU
            out.append(v)
        return torch.stack(out)


class W2Net(nn.Module):
    """Three times [Conv3x3 -> 64, BatchNorm, LIF, MaxPool 2], flatten, Linear 2304 -> 10, LIF over [T, B, 2, 48, 48].
    Per step, each batch norm normalises one time step's batch (as snnTorch's networks do); at once, all T x B."""

    def __init__(self, per_step):
        super().__init__()
        self.convs = nn.ModuleList(scaled(nn.Conv2d(2 if i == 0 else 64, 64, 3, padding=1)) for i in range(3))
        self.bns = nn.ModuleList(nn.BatchNorm2d(64) for _ in range(3))
        self.fc = scaled(nn.Linear(64 * 6 * 6, 10))
        self.per_step = per_step

    def forward(self, x):
        steps, batch = x.shape[0], x.shape[1]
        if not self.per_step:
            h = x.flatten(0, 1)
            for conv, bn in zip(self.convs, self.bns):
                c = bn(conv(h))
                s = lif_over_time(c.view(steps, batch, *c.shape[1:]))
                h = F.max_pool2d(s.flatten(0, 1), 2)
            return lif_over_time(self.fc(h.flatten(1)).view(steps, batch, -1))
        vs = [None] * 4
        out = []
        for t in range(steps):
            h = x[t]
            for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
                c = bn(conv(h))
                s, vs[i] = lif_step(vs[i], c)
                h = F.max_pool2d(s, 2)
            c = self.fc(h.flatten(1))
            s, vs[3] = lif_step(vs[3], c)
            out.append(s)
        return torch.stack(out)


def mean_rate_loss(output, labels):
    return F.cross_entropy(output.mean(0), labels)


def max_potential_loss(output, labels):
    return F.cross_entropy(output.max(0).values, labels)


WORKLOADS = {
    "w1": (lambda ps: Stacked([2312, 512, 512, 128, 12], ps), (25, 32, 2312), 12, mean_rate_loss, "at-once"),
    "w1-inference": (lambda ps: Stacked([2312, 512, 512, 128, 12], ps), (25, 32, 2312), 12, mean_rate_loss, "at-once"),
    "w2": (W2Net, (8, 16, 2, 48, 48), 10, mean_rate_loss, "per-step"),
    "w3": (W3Net, (100, 64, 700), 20, max_potential_loss, "at-once"),
}


def main():
    name = sys.argv[1]
    build, shape, classes, loss_of, default_mode = WORKLOADS[name]
    mode = sys.argv[2] if len(sys.argv) > 2 else default_mode
    channels_last = len(sys.argv) > 3 and sys.argv[3] == "channels-last"
    # Debian's build starts with one thread; the peers' figures use every core, as Snn does.
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    model = build(mode == "per-step")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    batches = [(torch.bernoulli(torch.full(shape, 0.1)), torch.randint(classes, (shape[1],))) for _ in range(4)]
    k = 0
    if name == "w1-inference":
        model.eval()

        def step():
            nonlocal k
            x, y = batches[k % 4]
            k += 1
            with torch.no_grad():
                return loss_of(model(x), y).item()
    else:
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)

        def step():
            nonlocal k
            x, y = batches[k % 4]
            k += 1
            optimizer.zero_grad()
            loss = loss_of(model(x), y)
            loss.backward()
            optimizer.step()
            return loss.item()

    first = step()
    for _ in range(3):
        step()
    times = []
    for _ in range(20):
        start = time.perf_counter()
        step()
        times.append(1000.0 * (time.perf_counter() - start))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    layout = ", channels-last" if channels_last else ""
    print(f"plain PyTorch {torch.__version__} {name} ({mode}{layout}, {torch.get_num_threads()} threads): "
          f"median {statistics.median(times):.2f} ms  min {min(times):.2f}  max {max(times):.2f}; "
          f"first loss {first:.4f}; peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
