#!/usr/bin/env bash
# Snn and plain PyTorch on the same workload, alternating, so both are timed in the same minutes of the machine
# (its speed drifts by up to 30 % within minutes, so figures taken at different times do not compare).
#
#   bash bench/peers/side_by_side.sh w1|w1-inference|w2|w3 [rounds]
#
# Before each run, probe.py prints how long a fixed matrix product takes: the machine switches between a fast and a
# slow state, so only runs that met the same state compare.
# Needs Debian's PyTorch (apt-get install python3-torch libopenblas0-pthread libjemalloc2) and the Release build of
# bench/Snn.Bench. The peer runs in its fastest configuration for the workload, found by trying both ways of running
# the layers, both OpenMP wait policies and both allocators (bench/RESULTS.md, round 16):
# - W1 and W1 inference: layers at once, idle OpenMP threads sleep (with spinning threads, OpenBLAS's own threads
#   and libtorch's OpenMP team fight for the two cores: 80-270 ms instead of 52);
# - W3: both ways (the faster differs from run to run), OpenMP threads sleep;
# - W2: per step, OpenMP threads spin, jemalloc keeping freed pages (glibc returns W2's large blocks every step and
#   faults them in again); both memory formats of the convolution weights (channels-last is usually faster).
set -euo pipefail
cd "$(dirname "$0")/../.."
workload=${1:?workload: w1, w1-inference, w2 or w3}
rounds=${2:-3}
bench=bench/Snn.Bench/bin/Release/net10.0/Snn.Bench.dll
jemalloc=$(ls /usr/lib/*/libjemalloc.so.2 | head -n 1)
# The machine's state before each run (probe.py: the time of a fixed float32 product).
probe() { OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/peers/probe.py 2>&1 | grep -v -i warn; }
# peer "VAR=value ..." workload mode [channels-last]
peer() { probe; env $1 /usr/bin/python3 bench/peers/plain_pytorch.py "${@:2}" 2>&1 | grep -v -i warn; }
for ((i = 1; i <= rounds; i++)); do
  probe
  dotnet "$bench" "$workload" | grep -E 'median|peak' | sed -e 's/ (.*GFLOP[^)]*)//' -e 's/; peer .*//'
  case "$workload" in
    w1 | w1-inference) peer OMP_WAIT_POLICY=PASSIVE "$workload" at-once ;;
    w3) peer OMP_WAIT_POLICY=PASSIVE w3 per-step; peer OMP_WAIT_POLICY=PASSIVE w3 at-once ;;
    w2)
      tuned="OMP_WAIT_POLICY=ACTIVE MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 LD_PRELOAD=$jemalloc"
      peer "$tuned" w2 per-step; peer "$tuned" w2 per-step channels-last ;;
    *) echo "unknown workload '$workload'" >&2; exit 2 ;;
  esac
done
