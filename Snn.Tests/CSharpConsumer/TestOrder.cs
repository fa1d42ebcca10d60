using Xunit;

// The facade tests seed TorchSharp's one global generator (manual_seed) and then compare two networks built from it.
// xUnit runs test classes in parallel by default, so another class drawing random numbers between the two
// constructions makes identical seeds give different weights. Running the classes one after another keeps every
// seeded comparison deterministic; the whole assembly takes a few seconds.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
