/// The activity crossover of the sparse binary Linear: forward + weight gradient of W1's first layer
/// ([T·B = 800; 2312] spikes → 512) with the sparse path against the dense float32 GEMM, over input activities.
module Snn.Bench.SparseThreshold

open TorchSharp
open Snn
open Snn.Modules
open Snn.Bench.Measure

/// Prints ms per forward + backward for both paths at each activity, and the highest activity where sparse wins.
let measure () =
    torch.manual_seed 0L |> ignore
    let layer sparse = new SpikeLinear("fc", 2312, 512, { SpikeLinearOptions.Dense with Sparse = sparse; SparseActivityThreshold = 1.0 })
    use sparseLayer = layer true
    use denseLayer = layer false
    let mutable crossover = 0.0
    for activity in [ 0.01; 0.02; 0.05; 0.1; 0.15; 0.2; 0.25; 0.3; 0.4; 0.5 ] do
        let x = torch.bernoulli (torch.zeros ([| 800L; 2312L |]) + activity)
        let run (l: SpikeLinear) () =
            use scope = torch.NewDisposeScope ()
            l.zero_grad ()
            Diff.backward ((l.forward x).sum ())
        let s = time 3 15 (run sparseLayer)
        let d = time 3 15 (run denseLayer)
        if s.Median < d.Median then crossover <- activity
        printfn $"activity {activity,5:F2}: sparse {s.Median,7:F2} ms   dense fp32 {d.Median,7:F2} ms   ratio {d.Median / s.Median:F2}"
    printfn $"sparse is faster up to activity {crossover:F2} (forward + weight gradient, [800; 2312] -> 512)"
