/// Benchmarks of Snn's training step (run by `dotnet fsi build.fsx bench`; not tests).
///
/// - slice: the DenseSnn of `snn train` (512 -> 128 -> 10 LIF, T = 20, batch 32) on moving-patterns frames.
/// - kernels: forward + backward of 2^20 LIF and CuLIF neurons at T = 8, 32, 128: fused kernel (SIMD on 2 cores, SIMD on 1
///   core, scalar on 2 cores) vs unrolled reference; kernels-fused: without the slow unrolled reference.
/// - w1, w1-inference, w2, w3: the workloads of docs/performance.md (see Workloads.fs), each with the levers of
///   the command line (--kernel fused|reference, --simd, --kernel-threads, --sparse, --sparse-threshold p, --bf16,
///   --keep-freed-memory, --small-block-caches, --release-unreachable, --fused-pool, --fused-bn, --fused-adam, --phases: on|off).
/// - all (the default): every workload, each in its own process so that peak resident memory is per workload.
/// - sparse-threshold: the sparse binary Linear against the dense GEMM over input activities (the crossover);
///   sparse-conv-threshold: the same for the sparse binary convolution against oneDNN's.
///   direct-conv-threshold: the direct convolution against oneDNN's by inputs per window;
///   input-block-threshold: the fused input block against its layers by inputs per window.
/// - memory w1|w2|w3 [steps]: where the workload's resident memory goes (see MemoryProbe.fs).
/// - scaling: ms per training step of W1 and W3 for T in {25, 100, 300} and batch in {16, 64, 256} (idle machine).
module Snn.Bench.Program

open System
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons
open Snn.Bench.Measure

type private Tensor = torch.Tensor

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

/// Forward + backward of one LIF and one CuLIF population of 2^20 neurons over T steps, fused kernel against the
/// unrolled reference; each fused kernel moves 24 bytes per neuron and step (x, h, z forward; ∂z, h, ∂x backward).
let private kernels (withReference: bool) =
    let neurons = 1L <<< 20
    let lif = { LifParameters.Default with TauMem = 2.0 }
    let cuLif = { CuLifParameters.Default with TauSyn = 2.0; TauMem = 2.0 }
    let populations = [ "LIF", (fun kernel x -> Dynamics.lif kernel lif x); "CuLIF", (fun kernel x -> Dynamics.cuLif kernel cuLif x) ]
    for steps in [ 8L; 32L; 128L ] do
        let x = torch.rand ([| steps; neurons |]) * 2.0f
        for name, population in populations do
            let run kernel () =
                use scope = torch.NewDisposeScope ()
                let leaf = x.detach().requires_grad_ true
                Diff.backward ((population kernel leaf).sum ())
            let fused = time 2 10 (run Fused)
            let scalar =
                FusedKernelSettings.Vectorised <- false
                try time 2 10 (run Fused) finally FusedKernelSettings.Vectorised <- true
            let oneCore =
                FusedKernelSettings.Parallel <- false
                try time 2 10 (run Fused) finally FusedKernelSettings.Parallel <- true
            let gbs = 24.0 * float steps * float neurons / (fused.Median / 1000.0) / 1e9
            let line = $"{name,-5} 2^20 x T={steps,-3}  fused SIMD 2 cores {fused.Median,8:F1} ms ({gbs:F1} GB/s)   SIMD 1 core {oneCore.Median,8:F1} ms   scalar 2 cores {scalar.Median,8:F1} ms"
            if withReference then
                // The unrolled reference takes minutes at T = 128: one timed run there.
                let reference = if steps > 32L then time 0 1 (run Reference) else time 1 3 (run Reference)
                printfn $"{line}   unrolled {reference.Median,8:F1} ms   speed-up {reference.Median / fused.Median:F1}x"
            else printfn $"{line}"

/// Runs every workload and the hypergradient benchmark in its own child process (same levers), so each reports its own peak memory.
let private allWorkloads (leverArguments: string list) =
    let entry = Reflection.Assembly.GetEntryAssembly().Location
    for name in Workloads.names @ [ "hypergradient" ] do
        let info = Diagnostics.ProcessStartInfo (Environment.ProcessPath, UseShellExecute = false)
        if not (entry.EndsWith ".exe") && IO.Path.GetExtension entry = ".dll" then info.ArgumentList.Add entry
        info.ArgumentList.Add name
        for a in leverArguments do info.ArgumentList.Add a
        use child = Diagnostics.Process.Start info
        child.WaitForExit ()
        if child.ExitCode <> 0 then eprintfn $"workload {name} failed with exit code {child.ExitCode}"

[<EntryPoint>]
let main argv =
    let levers, chosen =
        // A mistyped lever is a one-line error, not a stack trace.
        try Workloads.parseLevers (List.ofArray argv)
        with e ->
            eprintfn "Snn.Bench: %s" e.Message
            exit 2
    // Before anything else: a restart runs this entry point again from the start.
    Allocator.restartTuned (not levers.SmallBlockCaches) levers.WideVectors |> ignore
    let leverArguments = argv |> Array.filter (fun a -> not (List.contains a chosen)) |> List.ofArray
    let kept = levers.KeepFreedMemory && Allocator.keepFreedMemory ()
    // Once for every benchmark (the `kernels` comparison switches them itself and restores them).
    levers.ApplyKernelSettings ()
    let chosen = if chosen.IsEmpty then [ "all" ] else chosen
    if chosen <> [ "all" ] then
        let threads = torch.get_num_threads ()
        printfn $"[{String.Join (' ', chosen)}] {threads} intra-op threads, TorchSharp {typeof<torch.Tensor>.Assembly.GetName().Version}, freed memory kept in process: {kept}, small-block tunables: {Allocator.smallBlockTunablesSet ()}; {levers.Describe ()}"
    // `memory w3 [steps]`: the probe of the named workloads instead of their timing (23 steps unless given).
    let probing = List.contains "memory" chosen
    let probeSteps = chosen |> List.tryPick (fun a -> match Int32.TryParse a with | true, n -> Some n | _ -> None)
    for name in chosen do
        match name with
        | workload when probing && List.contains workload [ "w1"; "w2"; "w3" ] -> MemoryProbe.run workload levers (defaultArg probeSteps 23)
        | count when probing && fst (Int32.TryParse count) -> ()
        | "all" -> allWorkloads leverArguments
        | "slice" -> slice ()
        | "kernels" -> kernels true
        | "kernels-fused" -> kernels false
        | "sparse-threshold" -> SparseThreshold.measure ()
        | "sparse-conv-threshold" -> SparseThreshold.measureConv ()
        | "direct-conv-threshold" -> SparseThreshold.measureDirectConv ()
        | "input-block-threshold" -> SparseThreshold.measureInputBlock ()
        | "scaling" -> Workloads.scaling levers
        | "hypergradient" -> HypergradientBench.run ()
        | "memory" -> ()
        | workload when List.contains workload Workloads.names -> Workloads.run workload levers
        | other -> eprintfn "unknown benchmark '%s' (known: all, %s, hypergradient, memory, scaling, slice, kernels, kernels-fused, sparse-threshold, sparse-conv-threshold, direct-conv-threshold, input-block-threshold)" other (String.Join (", ", Workloads.names)); exit 2
    if chosen <> [ "all" ] then
        peakResidentMb () |> Option.iter (fun mb -> printfn $"peak resident memory: {mb:F0} MB")
    0
