"""The machine's speed right now: the median time of a fixed float32 matrix product (1024 x 1024 x 1024, libtorch,
two threads) over 20 runs. The machine this project is measured on switches between a fast and a slow state that
last tens of seconds (a fixed loop of float32 convolutions and products took 1.6 times as long in the slow one,
bench/RESULTS.md round 17), so `side_by_side.sh` prints this before each run to tell which state a run met.

Usage: python3 probe.py
"""

import statistics
import time

import torch

torch.set_num_threads(2)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
for _ in range(3):
    torch.mm(a, b)
times = []
for _ in range(20):
    start = time.perf_counter()
    torch.mm(a, b)
    times.append((time.perf_counter() - start) * 1000)
print(f"machine probe: 1024^3 float32 product {statistics.median(times):.2f} ms")
