#!/usr/bin/env bash
# Kill -9 during training, resume, repeat: the resumed run must end with the uninterrupted run's history.
#
# A reference run trains 8 epochs with a checkpoint every epoch. The victim run trains the same configuration with
# resume on, and is killed with SIGKILL after a seeded random delay, again and again, until one attempt exits on its
# own; then a new round starts from scratch, until the requested number of kills has been made. A checkpoint is one
# manifest-sealed folder (whole or absent) holding the model, the optimizer, the history and the random state, so
# every kill point keeps either the previous complete checkpoint or the new one, and each round's per-epoch test
# accuracies must equal the reference's exactly (training runs on one thread, so it is deterministic).
#
# Usage: bench/robustness/kill-resume.sh [kills] [seed]   (build first: dotnet fsi build.fsx build)
set -euo pipefail
cd "$(dirname "$0")/../.."
snn=(dotnet Snn.Cli/bin/Release/net10.0/snn.dll)
limit=${1:-40}
RANDOM=${2:-20261204}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(train --epochs 8 --train-samples 600 --test-samples 200 --threads 1 --seed 3)

accuracies() { grep -o -E '"(TestAccuracy|testAccuracy|test_accuracy)": *[0-9.eE+-]*' "$1" | sed 's/.*: *//' | tr '\n' ' '; }

started=$(date +%s%N)
"${snn[@]}" "${common[@]}" --set "checkpoint.dir=$work/reference-checkpoints" --out "$work/reference" > /dev/null
span_ms=$(( ($(date +%s%N) - started) / 1000000 ))
reference=$(accuracies "$work/reference/history.json")
echo "reference test accuracies: $reference (run took ${span_ms} ms)"

# Rounds: each trains from scratch in fresh folders, killed until one attempt finishes on its own, and must end with
# the reference's history. Rounds repeat until LIMIT kills have been made in all.
kills=0
attempts=0
rounds=0
while [ "$kills" -lt "$limit" ]; do
    rounds=$((rounds + 1))
    rm -rf "$work/checkpoints" "$work/victim"
    while :; do
        attempts=$((attempts + 1))
        "${snn[@]}" "${common[@]}" --set "checkpoint.dir=$work/checkpoints" --set checkpoint.resume=true \
            --out "$work/victim" > "$work/attempt.log" 2>&1 &
        pid=$!
        # Delays drawn uniformly over the reference run's wall time (start-up, every epoch and every save), so the
        # kill points cover the whole run however loaded the machine is.
        at_ms=$(( (RANDOM * 32768 + RANDOM) % span_ms ))
        delay=$(printf '%d.%03d' $((at_ms / 1000)) $((at_ms % 1000)))
        sleep "$delay"
        if kill -0 "$pid" 2> /dev/null; then
            kill -9 "$pid" 2> /dev/null || true
            wait "$pid" 2> /dev/null || true
            kills=$((kills + 1))
            saved=$( (ls "$work/checkpoints" 2> /dev/null || true) | tr "\n" " ")
            echo "round $rounds, attempt $attempts: killed after ${delay}s; checkpoints: ${saved:-none}"
        else
            if ! wait "$pid"; then echo "attempt $attempts failed:"; cat "$work/attempt.log"; exit 1; fi
            break
        fi
    done
    victim=$(accuracies "$work/victim/history.json")
    if [ "$victim" != "$reference" ]; then echo "round $rounds DIFFERS from the uninterrupted run: $victim"; exit 1; fi
    echo "round $rounds: resumed run identical to the uninterrupted one"
done
echo "$kills kills in $attempts attempts over $rounds rounds: every resumed run identical to the uninterrupted one"
