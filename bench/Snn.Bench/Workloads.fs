/// The workloads of docs/performance.md with exactly the documented work, and the levers that change how Snn runs
/// them (each switchable from the command line so on/off can be compared):
///
/// - W1 tmsnn-fc: 2312 → 512 → 512 → 128 → 12 LIF, batch 32, T = 25 (and W1 inference: one no-grad forward).
/// - W2 dvs-conv: 2×48×48 frames, T = 8, batch 16, three times [Conv3×3 → 64 ch, BatchNorm, LIF, MaxPool2],
///   flatten, Linear → 10 LIF.
/// - W3 shd-rnn-ish: 700 channels, T = 100, batch 64: 700 → 256 LIF → 256 LIF → 20 leaky (non-spiking) readout.
///
/// Common: Bernoulli(0.1) input spikes, 4 pre-generated batches cycled, fixed seeds; LIF v += (x - v)/τ with τ = 2
/// (forward Euler, dt = 1), threshold 1, hard reset to 0, sigmoid surrogate α = 4; every Linear / Conv weight (and
/// bias) × 8 after the default initialisation; Adam(1e-3); one step = zero grad + forward over T + loss + backward
/// + optimizer step (the layers start from rest on every call, so there is no state to reset). Loss: cross-entropy
/// on the mean output spikes over time (W3: on the maximum over time of the readout potential).
module Snn.Bench.Workloads

open System
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Bench.Measure

type private Tensor = torch.Tensor

/// The machine's roofs (docs/performance.md), GFLOP/s.
let fp32Roof, bf16Roof = 170.0, 700.0

/// How Snn runs a workload.
type Levers =
    { /// LIF recurrence: fused kernel or unrolled reference.
      Kernel: Kernel
      /// SIMD loops in the fused kernels.
      Simd: bool
      /// Neurons split across cores in the fused kernels.
      KernelThreads: bool
      /// Run the kernels' work items on libtorch's OpenMP threads (else .NET's thread pool).
      OpenMpTeam: bool
      /// Sparse binary input accumulation in the Linear and convolution layers (`SpikeLinear`, `SpikeConv2d`).
      Sparse: bool
      /// Activity above which the sparse path falls back to the dense GEMM.
      SparseThreshold: float
      /// bfloat16 GEMMs / convolutions with float32 master weights.
      Bf16: bool
      /// The sparse layers' input gradients in bfloat16 (`SpikeLinearOptions.Bf16InputGradient`).
      Bf16InputGradient: bool
      /// The library's direct kernels for W2's first convolution (2 channels × 3 × 3 per window; `SpikeConv2d`'s
      /// `Direct`): its weight gradient, or with the fused input block the whole block as one node.
      Direct: bool
      /// glibc keeps freed memory in the process (mallopt), instead of re-mapping large blocks every step.
      KeepFreedMemory: bool
      /// glibc's caches of freed small blocks (tcache, fast bins) stay on; off (the default, as in `snn`) restarts
      /// the process with `Allocator.smallBlockTunables`.
      SmallBlockCaches: bool
      /// 512-bit `Vector<T>` for the neuron kernels where the CPU has AVX-512 (restarts the process with
      /// DOTNET_MaxVectorTBitWidth=512, as `snn` does); off keeps the runtime's default (256 bits).
      WideVectors: bool
      /// Free undisposed TorchSharp handles before every step (`Allocator.releaseUnreachable`, as the library's
      /// training loop does); off shows the heap growth it prevents.
      ReleaseUnreachable: bool
      /// Where the model and its batches live (`--device cpu|cuda[:i]`); the fused kernels run on the CPU only.
      Device: torch.Device
      /// W2's 2 × 2 max pooling through the fused kernel (`MaxPool2x2Layer`, the library's) or libtorch's MaxPool2d.
      FusedPool: bool
      /// W2's batch normalisation through the fused kernel (`BatchNorm2dLayer`, the library's, bit for bit libtorch's)
      /// or libtorch's BatchNorm2d.
      FusedBn: bool
      /// W2's BatchNorm → LIF → pooling as one fused block (`BatchNormLifPool`, the same bits as the three fused
      /// layers) instead of three layers; needs the fused batch norm and pooling.
      FusedBlock: bool
      /// W2's first convolution, batch norm, LIF and pooling as one `ConvBatchNormLifPool` (needs the fused block);
      /// the layer fuses them into one node that never writes the convolution's output when the direct lever is on.
      FusedInputBlock: bool
      /// The library's Adam (TorchSharp's with the fused step of the same bits) instead of TorchSharp's own.
      FusedAdam: bool
      /// Also print the median time of each phase of the training step (release, forward and loss, backward,
      /// optimizer), to see where a step's time goes.
      Phases: bool }

    /// The defaults of `snn train` (`SpikeLinearOptions.Default`: float32 with the sparse path, `--sparse off`
    /// measures dense float32; the kernels on libtorch's OpenMP team, as in the `snn` process).
    static member Default =
        { Kernel = Fused; Simd = true; KernelThreads = true; OpenMpTeam = true; Sparse = SpikeLinearOptions.Default.Sparse
          SparseThreshold = SpikeLinearOptions.DefaultSparseActivityThreshold; Bf16 = SpikeLinearOptions.Default.Bf16
          Bf16InputGradient = SpikeLinearOptions.Default.Bf16InputGradient; Direct = SpikeLinearOptions.Default.Direct; KeepFreedMemory = true
          SmallBlockCaches = false; WideVectors = true; ReleaseUnreachable = true; Device = torch.CPU; FusedPool = true; FusedBn = true; FusedBlock = true; FusedInputBlock = true; FusedAdam = true; Phases = false }

    /// One line describing the levers.
    member l.Describe () =
        let onOff b = if b then "on" else "off"
        $"kernel {l.Kernel}, simd {onOff l.Simd}, kernel-threads {onOff l.KernelThreads}, openmp-team {onOff l.OpenMpTeam}, sparse {onOff l.Sparse} (<= {l.SparseThreshold}), bf16 {onOff l.Bf16}, bf16-input-gradient {onOff l.Bf16InputGradient}, direct {onOff l.Direct}, keep-freed-memory {onOff l.KeepFreedMemory}, small-block-caches {onOff l.SmallBlockCaches}, wide-vectors {onOff l.WideVectors} ({Numerics.Vector<float32>.Count} lanes), release-unreachable {onOff l.ReleaseUnreachable}, fused-pool {onOff l.FusedPool}, fused-bn {onOff l.FusedBn}, fused-block {onOff l.FusedBlock}, fused-input-block {onOff l.FusedInputBlock}, fused-adam {onOff l.FusedAdam}, device {l.Device}"

    /// Sets the fused kernels' process-wide switches (`FusedKernelSettings`) to these levers.
    member l.ApplyKernelSettings () =
        FusedKernelSettings.Vectorised <- l.Simd
        FusedKernelSettings.Parallel <- l.KernelThreads
        FusedKernelSettings.OpenMpTeam <- l.OpenMpTeam

    /// The Linear options of these levers.
    member l.LinearOptions : SpikeLinearOptions =
        { Sparse = l.Sparse; SparseActivityThreshold = l.SparseThreshold; Bf16 = l.Bf16; Bf16InputGradient = l.Bf16InputGradient; Direct = l.Direct }

/// Parses `--lever value` pairs; returns the levers and the remaining arguments.
let parseLevers (args: string list) : Levers * string list =
    // on or off, or for a lever with `auto` (Some choice) what this CPU runs fast.
    let lever (name: string) (auto: bool option) (value: string) =
        match value.ToLowerInvariant (), auto with
        | ("on" | "true" | "1"), _ -> true
        | ("off" | "false" | "0"), _ -> false
        | "auto", Some choice -> choice
        | other, _ -> failwithf "--%s takes %s, got '%s'" name (if auto.IsSome then "auto, on or off" else "on or off") other
    let onOff (name: string) (value: string) = lever name None value
    let autoOnOff (name: string) (auto: bool) (value: string) = lever name (Some auto) value
    let rec go (levers: Levers) (rest: string list) (args: string list) =
        match args with
        | "--kernel" :: v :: tail ->
            let kernel = match v.ToLowerInvariant () with "fused" -> Fused | "reference" -> Reference | o -> failwithf "--kernel takes fused or reference, got '%s'" o
            go { levers with Kernel = kernel } rest tail
        | "--simd" :: v :: tail -> go { levers with Simd = onOff "simd" v } rest tail
        | "--kernel-threads" :: v :: tail -> go { levers with KernelThreads = onOff "kernel-threads" v } rest tail
        | "--openmp-team" :: v :: tail -> go { levers with OpenMpTeam = onOff "openmp-team" v } rest tail
        | "--sparse" :: v :: tail -> go { levers with Sparse = onOff "sparse" v } rest tail
        | "--sparse-threshold" :: v :: tail ->
            match Double.TryParse (v, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
            | true, p -> go { levers with SparseThreshold = p } rest tail
            | _ -> failwithf "--sparse-threshold takes a number, got '%s'" v
        | "--bf16" :: v :: tail -> go { levers with Bf16 = autoOnOff "bf16" SpikeLinearOptions.NativeBf16 v } rest tail
        | "--bf16-input-gradient" :: v :: tail ->
            go { levers with Bf16InputGradient = autoOnOff "bf16-input-gradient" SpikeLinearOptions.FasterBf16 v } rest tail
        | "--direct" :: v :: tail -> go { levers with Direct = onOff "direct" v } rest tail
        | "--keep-freed-memory" :: v :: tail -> go { levers with KeepFreedMemory = onOff "keep-freed-memory" v } rest tail
        | "--small-block-caches" :: v :: tail -> go { levers with SmallBlockCaches = onOff "small-block-caches" v } rest tail
        | "--wide-vectors" :: v :: tail -> go { levers with WideVectors = onOff "wide-vectors" v } rest tail
        | "--release-unreachable" :: v :: tail -> go { levers with ReleaseUnreachable = onOff "release-unreachable" v } rest tail
        | "--fused-pool" :: v :: tail -> go { levers with FusedPool = onOff "fused-pool" v } rest tail
        | "--fused-bn" :: v :: tail -> go { levers with FusedBn = onOff "fused-bn" v } rest tail
        | "--fused-block" :: v :: tail -> go { levers with FusedBlock = onOff "fused-block" v } rest tail
        | "--fused-input-block" :: v :: tail -> go { levers with FusedInputBlock = onOff "fused-input-block" v } rest tail
        | "--fused-adam" :: v :: tail -> go { levers with FusedAdam = onOff "fused-adam" v } rest tail
        | "--phases" :: v :: tail -> go { levers with Phases = onOff "phases" v } rest tail
        | "--device" :: v :: tail ->
            match Tensors.parseDevice v with
            | Ok device -> go { levers with Device = device } rest tail
            | Error message -> failwithf "--device: %s" message
        | a :: tail when a.StartsWith "--" -> failwithf "unknown lever '%s'" a
        | a :: tail -> go levers (a :: rest) tail
        | [] -> levers, List.rev rest
    go Levers.Default [] args

/// The documented LIF: v += (x - v)/2, threshold 1, hard reset to 0, sigmoid(4) surrogate.
let neuron = { LifParameters.Default with TauMem = 2.0; Dt = 1.0; Scheme = ForwardEuler; Surrogate = Sigmoid 4.0 }

/// A Linear layer over [T; B; K] with the default initialisation × 8 and the chosen levers.
let private linear (levers: Levers) (name: string) (a: int) (b: int) =
    new TimeDistributed(name, (new SpikeLinear(name, a, b, levers.LinearOptions)).Scale 8.0)

/// W1 / W3 body: Linear → LIF per consecutive pair of sizes.
type private Stacked(sizes: int list, levers: Levers) as this =
    inherit torch.nn.Module<Tensor, Tensor>("Stacked")
    let layers =
        sizes |> List.pairwise |> List.mapi (fun i (a, b) ->
            let fc = linear levers $"fc{i}" a b
            let lif = new LifLayer($"lif{i}", neuron, levers.Kernel)
            this.register_module ($"fc{i}", fc)
            this.register_module ($"lif{i}", lif)
            fc, lif)
    override _.forward (x: Tensor) = layers |> List.fold (fun h (fc, lif) -> lif.call (fc.call h)) x

/// Non-spiking leaky readout v_t = v_{t-1} + (x_t - v_{t-1})/2 from v_0 = 0, as one [T; T] filter matrix applied
/// over time (v_t = Σ_{k ≤ t} ½ · ½^{t-k} x_k): [T; B; N] → potentials [T; B; N]. The filter is a buffer, so it
/// moves with the module (`to device`).
type private LeakyReadout(steps: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("LeakyReadout")
    let filter =
        let f = Array2D.init steps steps (fun t k -> if k <= t then float32 (0.5 * Math.Pow (0.5, float (t - k))) else 0.0f)
        torch.tensor(f)
    do this.register_buffer ("filter", filter)
    override this.forward (x: Tensor) =
        torch.matmul(this.get_buffer "filter", x.reshape (x.shape.[0], -1L)).reshape (x.shape)

/// W3: 700 → 256 LIF → 256 LIF → Linear 256 → 20 → leaky readout over `steps` time steps (100 in W3).
type private W3Net(levers: Levers, steps: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("W3")
    let body = new Stacked([ 700; 256; 256 ], levers)
    let fc = linear levers "readout_fc" 256 20
    let readout = new LeakyReadout(steps)
    do
        this.register_module ("body", body)
        this.register_module ("readout_fc", fc)
        this.register_module ("readout", readout)
    override _.forward (x: Tensor) = x |> body.call |> fc.call |> readout.call

/// W2: three times [Conv3×3 → 64, BatchNorm, LIF, MaxPool 2], flatten, Linear 2304 → 10, LIF. The first block is one
/// `ConvBatchNormLifPool` (children conv, block) with the fused input block, else a `SpikeConv2d` and the block.
let private w2Net (levers: Levers) =
    new SpikingSequential("W2", [|
        for l in 0 .. 2 do
          if l = 0 && levers.FusedInputBlock && levers.FusedBlock && levers.FusedBn && levers.FusedPool then
            let first = new ConvBatchNormLifPool("layer0", 2, 64, 3, neuron, levers.Kernel, levers.LinearOptions)
            first.Conv.Scale 8.0 |> ignore
            yield first
          else
            yield (new SpikeConv2d($"conv{l}", (if l = 0 then 2 else 64), 64, 3, levers.LinearOptions)).Scale 8.0 :> torch.nn.Module<Tensor, Tensor>
            if levers.FusedBlock && levers.FusedBn && levers.FusedPool then
                yield new BatchNormLifPool($"block{l}", 64, neuron, levers.Kernel)
            else
                yield (if levers.FusedBn then new BatchNorm2dLayer($"bn{l}", 64) :> torch.nn.Module<Tensor, Tensor> else torch.nn.BatchNorm2d 64L)
                yield new LifLayer($"lif{l}", neuron, levers.Kernel)
                yield (if levers.FusedPool then new MaxPool2x2Layer($"pool{l}") :> torch.nn.Module<Tensor, Tensor> else torch.nn.MaxPool2d 2L)
        yield torch.nn.Flatten ()
        yield linear levers "fc" (64 * 6 * 6) 10
        yield new LifLayer("lif_out", neuron, levers.Kernel) |])

let private meanRateLoss (output: Tensor) (labels: Tensor) = torch.nn.functional.cross_entropy (output.mean ([| 0L |]), labels)
let private maxPotentialLoss (output: Tensor) (labels: Tensor) = let struct (values, _) = output.max (0L) in torch.nn.functional.cross_entropy (values, labels)

/// Dense fp32 FLOPs of a training step of Linear layers `sizes` over `rows` = T·B rows: forward, weight gradient
/// and input gradient (none for the first layer, whose input needs no gradient): 2·rows·Σ(a·b)·3 - 2·rows·a₀·b₀.
let private linearFlop (rows: float) (sizes: int list) =
    let macs = sizes |> List.pairwise |> List.sumBy (fun (a, b) -> float a * float b)
    let a0, b0 = float sizes.[0], float sizes.[1]
    2.0 * rows * macs * 3.0 - 2.0 * rows * a0 * b0, 2.0 * rows * macs

/// One workload's definition: model, input shape, classes, loss, step FLOPs (train, inference), peer ms.
type internal Workload =
    { Name: string
      Build: Levers -> torch.nn.Module<Tensor, Tensor>
      Input: int64[]
      Classes: int64
      Loss: Tensor -> Tensor -> Tensor
      TrainFlop: float
      InferFlop: float
      PeerTrain: string
      PeerInfer: string }

let internal w1 =
    let train, infer = linearFlop (25.0 * 32.0) [ 2312; 512; 512; 128; 12 ]
    { Name = "W1"; Build = (fun l -> new Stacked([ 2312; 512; 512; 128; 12 ], l) :> torch.nn.Module<Tensor, Tensor>); Input = [| 25L; 32L; 2312L |]; Classes = 12L
      Loss = meanRateLoss; TrainFlop = train; InferFlop = infer
      PeerTrain = "51-56 (plain PyTorch), 53-61 (SpikingJelly)"; PeerInfer = "17 (SpikingJelly), 17-20 (plain PyTorch)" }

let internal w2 =
    // Conv FLOPs 2·rows·C_out·C_in·9·H·W per layer (rows = T·B = 128); backward: weight gradient of every layer and
    // input gradient of layers 2 and 3; plus the Linear 2304 → 10 (forward, weight and input gradient).
    let rows = 8.0 * 16.0
    let conv cin hw = 2.0 * rows * 64.0 * float cin * 9.0 * float (hw * hw)
    let forward = conv 2 48 + conv 64 24 + conv 64 12 + 2.0 * rows * 2304.0 * 10.0
    let train = forward + (conv 2 48 + conv 64 24 + conv 64 12) + (conv 64 24 + conv 64 12) + 2.0 * 2.0 * rows * 2304.0 * 10.0
    { Name = "W2"; Build = (fun l -> w2Net l :> torch.nn.Module<Tensor, Tensor>); Input = [| 8L; 16L; 2L; 48L; 48L |]; Classes = 10L; Loss = meanRateLoss
      TrainFlop = train; InferFlop = forward; PeerTrain = "241-313 (plain PyTorch), 263 (snnTorch)"; PeerInfer = "-" }

let internal w3 =
    let train, infer = linearFlop (100.0 * 64.0) [ 700; 256; 256; 20 ]
    { Name = "W3"; Build = (fun l -> new W3Net(l, 100) :> torch.nn.Module<Tensor, Tensor>); Input = [| 100L; 64L; 700L |]; Classes = 20L; Loss = maxPotentialLoss
      TrainFlop = train; InferFlop = infer; PeerTrain = "134-136 (plain PyTorch), 154-159 (snnTorch)"; PeerInfer = "-" }

let private rate (flop: float) (ms: float) (bf16: bool) =
    let g = flop / 1e9 / (ms / 1000.0)
    let roof = if bf16 then $", {100.0 * g / bf16Roof:F0}%% of the bf16 roof" else ""
    $"{flop / 1e9:F2} GFLOP/step, {g:F1} GFLOP/s = {100.0 * g / fp32Roof:F0}%% of the fp32 roof{roof}"

/// The 4 cycled input batches of a workload (Bernoulli(0.1) spikes, random labels), drawn after the model so the
/// seeded weights come first. The probabilities are freed at once: left to the garbage collector, each would hold
/// an input-sized block of native memory that the collector does not see.
let internal batchesOf (w: Workload) (device: torch.Device) : (Tensor * Tensor)[] =
    [| for _ in 1 .. 4 ->
        use p = torch.full (w.Input, (0.1).ToScalar (), dtype = torch.float32)
        use x = torch.bernoulli p
        use y = torch.randint (w.Classes, [| w.Input.[1] |])
        // Drawn on the CPU, so every device sees the same batches.
        x.``to`` device, y.``to`` device |]

/// Runs one workload (train, or inference when `inference`) with the levers and prints its line.
let private runWorkload (w: Workload) (inference: bool) (levers: Levers) =
    torch.manual_seed 0L |> ignore
    use model = w.Build levers
    model.``to`` levers.Device |> ignore
    let batches = batchesOf w levers.Device
    let name = if inference then $"{w.Name} inference" else $"{w.Name} train"
    let mutable k = 0
    if inference then
        model.eval ()
        let forward (score: bool) =
            if levers.ReleaseUnreachable then Allocator.releaseUnreachable ()
            use _ = torch.no_grad ()
            use scope = torch.NewDisposeScope ()
            let input, labels = batches.[k % 4]
            k <- k + 1
            let output = model.forward input
            if score then (w.Loss output labels).ToDouble () else 0.0
        let first = forward true
        let timing = time 3 20 (fun () -> forward false |> ignore)
        printfn $"{name,-13} median {timing.Median,7:F2} ms  min {timing.Min:F2}  max {timing.Max:F2}  ({rate w.InferFlop timing.Median levers.Bf16}); first loss {first:F4}; peer {w.PeerInfer} ms"
    else
        let optimizer =
            if levers.FusedAdam then Training.createOptimizer Training.Adam 1e-3 model else torch.optim.Adam (model.parameters (), 1e-3)
        let phaseNames = [| "release"; "forward + loss"; "backward"; "zero grad + optimizer" |]
        let phases = Array.init phaseNames.Length (fun _ -> ResizeArray<float> ())
        let clock = Diagnostics.Stopwatch ()
        let lap (phase: int) =
            phases.[phase].Add clock.Elapsed.TotalMilliseconds
            clock.Restart ()
        let step () =
            clock.Restart ()
            // As the library's training loop does.
            if levers.ReleaseUnreachable then Allocator.releaseUnreachable ()
            lap 0
            use scope = torch.NewDisposeScope ()
            let input, labels = batches.[k % 4]
            k <- k + 1
            let loss = w.Loss (model.forward input) labels
            let value = loss.ToDouble ()
            lap 1
            Diff.backward loss
            lap 2
            optimizer.step () |> ignore
            optimizer.zero_grad ()
            lap 3
            value
        let first = step ()
        for p in phases do p.Clear ()
        let timing = time 3 20 (step >> ignore)
        printfn $"{name,-13} median {timing.Median,7:F2} ms  min {timing.Min:F2}  max {timing.Max:F2}  ({rate w.TrainFlop timing.Median levers.Bf16}); first loss {first:F4}; peer {w.PeerTrain} ms"
        if levers.Phases then
            let median (xs: ResizeArray<float>) = (Seq.sort xs |> Array.ofSeq).[xs.Count / 2]
            let parts = Array.map2 (fun (n: string) p -> $"{n} {median p:F2}") phaseNames phases
            let joined = String.Join (", ", parts)
            printfn $"{String.Empty,-13} phases (median ms over all steps): {joined}"

/// The workload names this module runs.
let names = [ "w1"; "w1-inference"; "w2"; "w3" ]

/// Sets the process-wide levers (allocator policy, kernel loops) and runs the named workload.
let run (name: string) (levers: Levers) =
    match name with
    | "w1" -> runWorkload w1 false levers
    | "w1-inference" -> runWorkload w1 true levers
    | "w2" -> runWorkload w2 false levers
    | "w3" -> runWorkload w3 false levers
    | other -> failwithf "unknown workload '%s'" other

/// How the training step's cost grows with the time steps T ∈ {25, 100, 300} and the batch B ∈ {16, 64, 256} on W1
/// and W3 (same layers, levers and loss; one Bernoulli(0.1) batch reused): median ms per step of 10 after 2
/// warm-ups, and µs per sample and time step. Run it on an idle machine (load average < 1): the figures of a loaded
/// one measure the load.
let scaling (levers: Levers) =
    let load = try (IO.File.ReadAllText "/proc/loadavg").Split(' ').[0] with _ -> "unknown"
    printfn $"scaling: load average {load} at the start (meaningful below 1)"
    let cases : (string * (int -> torch.nn.Module<Tensor, Tensor>) * int64 * int64 * (Tensor -> Tensor -> Tensor)) list =
        [ "W1", (fun _ -> new Stacked([ 2312; 512; 512; 128; 12 ], levers) :> torch.nn.Module<Tensor, Tensor>), 2312L, 12L, meanRateLoss
          "W3", (fun steps -> new W3Net(levers, steps) :> torch.nn.Module<Tensor, Tensor>), 700L, 20L, maxPotentialLoss ]
    for name, build, features, classes, loss in cases do
        for steps in [ 25; 100; 300 ] do
            for batch in [ 16; 64; 256 ] do
                torch.manual_seed 0L |> ignore
                use model = build steps
                model.``to`` levers.Device |> ignore
                let optimizer = Training.createOptimizer Training.Adam 1e-3 model
                use p = torch.full ([| int64 steps; int64 batch; features |], (0.1).ToScalar (), dtype = torch.float32)
                use drawn = torch.bernoulli p
                use input = drawn.``to`` levers.Device
                use labels = (torch.randint (classes, [| int64 batch |])).``to`` levers.Device
                let step () =
                    if levers.ReleaseUnreachable then Allocator.releaseUnreachable ()
                    use scope = torch.NewDisposeScope ()
                    optimizer.zero_grad ()
                    Diff.backward (loss (model.forward input) labels)
                    optimizer.step () |> ignore
                let timing = time 2 10 step
                let perSample = 1000.0 * timing.Median / float (steps * batch)
                printfn $"{name} T = {steps,3}  B = {batch,3}  median {timing.Median,9:F2} ms  min {timing.Min,9:F2}  ({perSample:F3} µs per sample-step)"
