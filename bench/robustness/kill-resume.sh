#!/usr/bin/env bash
# Kill -9 during training, resume, repeat: the resumed run must end with the uninterrupted run's history.
#
# A reference run trains EPOCHS epochs with a checkpoint every epoch. The victim run trains the same configuration
# with resume on, and is killed with SIGKILL after a random delay (seeded), again and again, until one attempt exits
# on its own. Because a checkpoint is one manifest-sealed folder (whole or absent) holding the model, the optimizer,
# the history and the random state, every kill point either keeps the previous complete checkpoint or the new one,
# and the final per-epoch test accuracies must equal the reference's exactly (training runs on one thread, so it is
# deterministic).
#
# Usage: bench/robustness/kill-resume.sh [kills-at-most] [seed]   (build first: dotnet fsi build.fsx build)
set -euo pipefail
cd "$(dirname "$0")/../.."
snn=(dotnet Snn.Cli/bin/Release/net10.0/snn.dll)
limit=${1:-40}
RANDOM=${2:-20261204}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(train --epochs 8 --train-samples 600 --test-samples 200 --threads 1 --seed 3)

accuracies() { grep -o -E '"(TestAccuracy|testAccuracy|test_accuracy)": *[0-9.eE+-]*' "$1" | sed 's/.*: *//' | tr '\n' ' '; }

"${snn[@]}" "${common[@]}" --set "checkpoint.dir=$work/reference-checkpoints" --report "$work/reference" > /dev/null
reference=$(accuracies "$work/reference/history.json")
echo "reference test accuracies: $reference"

kills=0
attempts=0
while :; do
    attempts=$((attempts + 1))
    "${snn[@]}" "${common[@]}" --set "checkpoint.dir=$work/checkpoints" --set checkpoint.resume=true \
        --report "$work/victim" > "$work/attempt.log" 2>&1 &
    pid=$!
    # Start-up takes about 2.5 s and an epoch about 0.4 s: delays of 0-5 s land in start-up, mid-epoch and saves.
    delay=$(printf '%d.%03d' $((RANDOM % 5)) $((RANDOM % 1000)))
    sleep "$delay"
    if kill -0 "$pid" 2> /dev/null && [ "$kills" -lt "$limit" ]; then
        kill -9 "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
        kills=$((kills + 1))
        saved=$(ls "$work/checkpoints" 2> /dev/null | tr '\n' ' ')
        echo "attempt $attempts: killed after ${delay}s; checkpoints: ${saved:-none}"
    else
        if ! wait "$pid"; then echo "attempt $attempts failed:"; cat "$work/attempt.log"; exit 1; fi
        break
    fi
done
victim=$(accuracies "$work/victim/history.json")
echo "resumed test accuracies:   $victim"
echo "$kills kills in $attempts attempts"
if [ "$victim" = "$reference" ]; then echo "identical to the uninterrupted run"; else echo "DIFFERENT from the uninterrupted run"; exit 1; fi
