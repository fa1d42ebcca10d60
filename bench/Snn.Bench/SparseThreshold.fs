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

/// The same for the sparse binary convolution on W2's first two layers' shapes ([T·B = 128; 2; 48; 48] and
/// [128; 64; 24; 24] spikes → 64 channels, 3 × 3, padding 1) and two narrower inputs (8 and 16 channels): forward +
/// weight gradient, and the forward alone, per path and input activity. A layer with fewer than
/// `SpikeConv2d.MinimumSparseWindow` inputs per window takes the dense path in both columns (the line says so).
let measureConv () =
    for channels, size in [ 2, 48; 8, 24; 16, 24; 64, 24 ] do
        torch.manual_seed 0L |> ignore
        let layer sparse = new SpikeConv2d("conv", channels, 64, 3, { SpikeLinearOptions.Dense with Sparse = sparse; SparseActivityThreshold = 1.0 })
        use sparseLayer = layer true
        use denseLayer = layer false
        let mutable crossover = 0.0
        for activity in [ 0.01; 0.05; 0.1; 0.15; 0.2; 0.3; 0.5 ] do
            let x = torch.bernoulli (torch.zeros ([| 128L; int64 channels; int64 size; int64 size |]) + activity)
            let train (l: SpikeConv2d) () =
                use scope = torch.NewDisposeScope ()
                l.zero_grad ()
                Diff.backward ((l.forward x).sum ())
            let infer (l: SpikeConv2d) () =
                use scope = torch.NewDisposeScope ()
                use _ = torch.no_grad ()
                l.forward x |> ignore
            let s, d = time 3 15 (train sparseLayer), time 3 15 (train denseLayer)
            let sf, df = time 3 15 (infer sparseLayer), time 3 15 (infer denseLayer)
            if s.Median < d.Median then crossover <- activity
            let path = if sparseLayer.LastCallSparse then "" else " (both dense: too few inputs per window)"
            printfn $"[128; {channels}; {size}; {size}] activity {activity,5:F2}: forward + weight gradient sparse {s.Median,7:F2} ms  dense {d.Median,7:F2} ms  ratio {d.Median / s.Median:F2}; forward sparse {sf.Median,6:F2} dense {df.Median,6:F2} ms{path}"
        printfn $"[128; {channels}; {size}; {size}]: sparse is faster up to activity {crossover:F2} (forward + weight gradient -> 64 channels, 3 x 3)"

/// The window size up to which the direct weight gradient (`DirectConv2d`) beats libtorch's: forward + weight
/// gradient of [128; C; 48; 48] → 64 channels, 3 × 3, padding 1 (W2's first layer at C = 2) for C·9 = 9 .. 72 inputs
/// per window, with a dense output gradient. Both forward passes are libtorch's, so the difference is the weight
/// gradient's. The direct kernel is called on every size here, also above `DirectConv2d.maximumWindow`, which this
/// measurement sets.
let measureDirectConv () =
    for channels in [ 1; 2; 3; 4; 6; 8 ] do
        torch.manual_seed 0L |> ignore
        use layer = new SpikeConv2d("conv", channels, 64, 3, SpikeLinearOptions.Dense)
        let x = torch.bernoulli (torch.zeros ([| 128L; int64 channels; 48L; 48L |]) + 0.1)
        let direct (x: torch.Tensor) = DirectConv2d.apply x layer.Weight layer.Bias 1
        // A dense output gradient, as a network gives (the gradient of a plain sum is one broadcast value).
        let r = torch.randn ([| 128L; 64L; 48L; 48L |])
        let train (forward: torch.Tensor -> torch.Tensor) () =
            use scope = torch.NewDisposeScope ()
            layer.zero_grad ()
            Diff.backward ((forward x * r).sum ())
        let d, l = time 3 15 (train direct), time 3 15 (train layer.forward)
        printfn $"[128; {channels}; 48; 48] -> 64, {channels * 9} inputs per window: forward + weight gradient direct {d.Median,7:F2} ms  libtorch {l.Median,7:F2} ms  ratio {l.Median / d.Median:F2}"

/// The window size up to which the fused input block (`ConvBatchNormLifPool`) beats its layers (`SpikeConv2d` with
/// the direct weight gradient, then `BatchNormLifPool`): forward + backward of W2's first block ([T = 8; B = 16; C;
/// 48; 48] Bernoulli(0.1) frames → 64 channels, 3 × 3, W2's neuron) for C·9 = 9 .. 144 inputs per window, with a dense
/// gradient of the pooled spikes. The fused node runs at every size here (`ConvBatchNormLifPool.MaximumWindow` is
/// raised for the measurement, which sets it).
let measureInputBlock () =
    let limit = ConvBatchNormLifPool.MaximumWindow
    ConvBatchNormLifPool.MaximumWindow <- 144
    try
        for channels in [ 1; 2; 4; 6; 8; 10; 12; 16 ] do
            torch.manual_seed 0L |> ignore
            use fused = new ConvBatchNormLifPool("block", channels, 64, 3, Workloads.neuron, Fused, SpikeLinearOptions.Default)
            fused.Conv.Scale 8.0 |> ignore
            use conv = new SpikeConv2d("conv", channels, 64, 3, SpikeLinearOptions.Default)
            use block = new BatchNormLifPool("block", 64, Workloads.neuron, Fused)
            do
                use _ = torch.no_grad ()
                conv.Weight.copy_ fused.Conv.Weight |> ignore
                conv.Bias.copy_ fused.Conv.Bias |> ignore
            use layers = new SpikingSequential("layers", [| conv :> torch.nn.Module<torch.Tensor, torch.Tensor>; block |])
            let x = torch.bernoulli (torch.zeros ([| 8L; 16L; int64 channels; 48L; 48L |]) + 0.1)
            let r = torch.randn ([| 8L; 16L; 64L; 24L; 24L |])
            if not (fused.Fuses x) then failwith $"the fused node does not run at {channels * 9} inputs per window"
            let train (m: torch.nn.Module<torch.Tensor, torch.Tensor>) () =
                use scope = torch.NewDisposeScope ()
                m.zero_grad ()
                Diff.backward ((m.forward x * r).sum ())
            let f, l = time 3 15 (train fused), time 3 15 (train layers)
            printfn $"[8; 16; {channels}; 48; 48] -> 64, {channels * 9} inputs per window: forward + backward fused {f.Median,7:F2} ms  layers {l.Median,7:F2} ms  ratio {l.Median / f.Median:F2}"
    finally ConvBatchNormLifPool.MaximumWindow <- limit
