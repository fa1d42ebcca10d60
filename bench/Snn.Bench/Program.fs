/// Benchmarks of Snn's training step (run by `dotnet fsi build.fsx bench`; not tests).
///
/// - slice: the DenseSnn of `snn train` (512 -> 128 -> 10 LIF, T = 20, batch 32) on moving-patterns frames.
/// - kernels: forward + backward of 2^20 LIF neurons at T = 8, 32, 128, fused kernel vs unrolled reference.
/// - w1: workload W1 of docs/performance.md as far as the foundation supports it: 2312 -> 512 -> 512 -> 128 -> 12
///   LIF, batch 32, T = 25, Bernoulli(0.1) input spikes (4 pre-generated batches cycled), weights x 8 after the
///   default initialisation, LIF with decay 1/2 per step (τ = dt / ln 2, the same update as v += (x - v)/2),
///   threshold 1, hard reset, cross-entropy on the mean output spikes over time, Adam(1e-3). The surrogate is ATan(2)
///   where the peers use sigmoid(4): the step's work is the same.
module Snn.Bench.Program

open System
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons
open Snn.Bench.Measure

type private Tensor = torch.Tensor

/// Stacked LIF network of W1: Linear (merged over T·B) then LIF, per layer.
type private StackedSnn(sizes: int list, neuron: LifParameters, gain: float, kernel: Kernel) as this =
    inherit torch.nn.Module<Tensor, Tensor>("StackedSnn")
    let layers =
        sizes |> List.pairwise |> List.mapi (fun i (a, b) ->
            let fc = new TimeDistributed($"fc{i}", Init.scaledLinear a b gain)
            let lif = new LifLayer($"lif{i}", neuron, kernel)
            this.register_module ($"fc{i}", fc)
            this.register_module ($"lif{i}", lif)
            fc, lif)
    override _.forward (x: Tensor) =
        layers |> List.fold (fun h (fc, lif) -> lif.forward (fc.forward h)) x

let private report (name: string) (timing: Timing) (firstLoss: float option) (gflop: float option) =
    let rate = gflop |> Option.map (fun g -> $", {g / (timing.Median / 1000.0):F1} GFLOP/s") |> Option.defaultValue ""
    let loss = firstLoss |> Option.map (fun l -> $"; first loss {l:F4}") |> Option.defaultValue ""
    printfn $"{name,-14} median {timing.Median:F2} ms  min {timing.Min:F2}  max {timing.Max:F2}  (over {timing.Steps} steps{rate}){loss}"

let private trainStep (model: torch.nn.Module<Tensor, Tensor>) (optimizer: torch.optim.Optimizer)
                      (loss: Tensor -> Tensor -> Tensor) (input: Tensor) (labels: Tensor) : float =
    use scope = torch.NewDisposeScope ()
    optimizer.zero_grad ()
    let l = loss (model.forward input) labels
    Diff.backward l
    optimizer.step () |> ignore
    l.ToDouble ()

let private slice () =
    let set = MovingPatterns.frameSet MovingPatterns.Settings.Default 20 0 0 128
    torch.manual_seed 0L |> ignore
    use model = new DenseSnn(512, 128, 10, { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }, 4.0, Fused)
    let optimizer = torch.optim.Adam (model.parameters (), 5e-3)
    let batches = [| for b in 0 .. 3 -> set.Frames.[torch.TensorIndex.Slice (int64 (32 * b), int64 (32 * b + 32))].transpose (0L, 1L), set.Labels.[torch.TensorIndex.Slice (int64 (32 * b), int64 (32 * b + 32))] |]
    let mutable k = 0
    let first = trainStep model optimizer Loss.crossEntropyOnCounts (fst batches.[0]) (snd batches.[0])
    let timing = time 3 20 (fun () -> k <- k + 1; trainStep model optimizer Loss.crossEntropyOnCounts (fst batches.[k % 4]) (snd batches.[k % 4]) |> ignore)
    report "slice train" timing (Some first) None

let private w1 (kernel: Kernel) =
    torch.manual_seed 0L |> ignore
    let neuron = { LifParameters.Default with TauMem = 1.0 / Math.Log 2.0; Dt = 1.0 }
    let sizes = [ 2312; 512; 512; 128; 12 ]
    use model = new StackedSnn(sizes, neuron, 8.0, kernel)
    let optimizer = torch.optim.Adam (model.parameters (), 1e-3)
    let batches = [| for _ in 1 .. 4 -> torch.bernoulli (torch.zeros ([| 25L; 32L; 2312L |]) + 0.1), torch.randint (12L, [| 32L |]) |]
    let meanRateLoss (spikes: Tensor) (labels: Tensor) = torch.nn.functional.cross_entropy (spikes.mean ([| 0L |]), labels)
    // Dense fp32 work of one step: forward GEMMs plus the two backward GEMMs per layer (the first layer's input
    // gradient is not needed): 2·T·B·Σ(a·b) · 3 - 2·T·B·2312·512.
    let tb = 25.0 * 32.0
    let macs = sizes |> List.pairwise |> List.sumBy (fun (a, b) -> float a * float b)
    let gflop = (2.0 * tb * macs * 3.0 - 2.0 * tb * 2312.0 * 512.0) / 1e9
    let mutable k = 0
    let first = trainStep model optimizer meanRateLoss (fst batches.[0]) (snd batches.[0])
    let timing = time 3 20 (fun () -> k <- k + 1; trainStep model optimizer meanRateLoss (fst batches.[k % 4]) (snd batches.[k % 4]) |> ignore)
    report $"W1 train {kernel}" timing (Some first) (Some gflop)
    model.eval ()
    let inference = time 3 20 (fun () ->
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope ()
        model.forward (fst batches.[0]) |> ignore)
    report $"W1 infer {kernel}" inference None (Some (2.0 * tb * macs / 1e9))

/// Forward + backward of one LIF population of 2^20 neurons over T steps, fused kernel against the unrolled
/// reference; the fused kernel moves 24 bytes per neuron and step (x, h, z forward; ∂z, h, ∂x backward).
let private kernels () =
    let neurons = 1L <<< 20
    let p = { LifParameters.Default with TauMem = 2.0 }
    for steps in [ 8L; 32L; 128L ] do
        let x = torch.rand ([| steps; neurons |]) * 2.0f
        let run kernel () =
            use scope = torch.NewDisposeScope ()
            let leaf = x.detach().requires_grad_ true
            Diff.backward ((Dynamics.lif kernel p leaf).sum ())
        let fused = time 2 10 (run Fused)
        // The unrolled reference takes minutes at T = 128: one timed run there.
        let reference = if steps > 32L then time 0 1 (run Reference) else time 1 3 (run Reference)
        let gbs = 24.0 * float steps * float neurons / (fused.Median / 1000.0) / 1e9
        printfn $"LIF 2^20 x T={steps,-3}  fused {fused.Median,8:F1} ms ({gbs:F1} GB/s)   unrolled {reference.Median,8:F1} ms   speed-up {reference.Median / fused.Median:F1}x"

[<EntryPoint>]
let main argv =
    let threads = torch.get_num_threads ()
    // SNN_DEFAULT_ALLOCATOR=1 measures with glibc's default policy, for comparison.
    let kept = Environment.GetEnvironmentVariable "SNN_DEFAULT_ALLOCATOR" <> "1" && Allocator.keepFreedMemory ()
    printfn $"Snn benchmarks: {threads} intra-op threads, TorchSharp {typeof<torch.Tensor>.Assembly.GetName().Version}, freed memory kept in process: {kept}"
    let chosen = if argv.Length = 0 then [| "slice"; "w1"; "kernels" |] else argv
    for name in chosen do
        match name with
        | "slice" -> slice ()
        | "w1" ->
            w1 Reference
            w1 Fused
        | "kernels" -> kernels ()
        | other -> eprintfn "unknown benchmark '%s' (known: slice, w1, kernels)" other; exit 2
    peakResidentMb () |> Option.iter (fun mb -> printfn $"peak resident memory: {mb:F0} MB")
    0
