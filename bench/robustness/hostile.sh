#!/usr/bin/env bash
# The longer hostile-input suite: the tests' replayable suite (mutated files of every format, hostile arguments)
# with ROUNDS rounds of seeded mutations per format instead of one (28 mutants per format per round). Every input
# must end in a clean one-line refusal or a valid run; the test prints the counts per format.
#
# Usage: bench/robustness/hostile.sh [rounds]   (build first: dotnet fsi build.fsx build)
set -euo pipefail
cd "$(dirname "$0")/../.."
SNN_HOSTILE_ROUNDS=${1:-20} dotnet Snn.Tests/bin/Release/net10.0/Snn.Tests.dll --no-spinner --filter-test-list "Hostile input"
