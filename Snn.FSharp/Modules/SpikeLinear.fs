/// A Linear layer with the performance levers for spiking networks: sparse accumulation of spike / event input
/// and bfloat16 GEMMs with float32 master weights. Same parameters ("weight" [N; K], "bias" [N]), initialisation
/// and maths as `torch.nn.Linear`: y = x Wᵀ + b over the last dimension.
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Detection of native bfloat16 arithmetic, read once.
module internal Bf16Support =
    let native =
        lazy (
            try
                let path = "/proc/cpuinfo"
                IO.File.Exists path
                && (let flags = IO.File.ReadAllText path in flags.Contains " avx512_bf16" || flags.Contains " amx_bf16")
            with :? IO.IOException | :? UnauthorizedAccessException -> false)

/// Which levers a `SpikeLinear` (and a `SpikeConv2d`, whose sparse path has its own conditions there) uses.
type SpikeLinearOptions =
    { /// For float32 input on the CPU (binary spikes or event counts), accumulate only the weight columns of
      /// nonzero inputs (forward and weight gradient) when the fraction of nonzeros is at most
      /// `SparseActivityThreshold`.
      Sparse: bool
      /// Highest fraction of nonzero inputs for which the sparse path runs; above it, the dense GEMM is faster.
      SparseActivityThreshold: float
      /// Run the dense GEMMs (forward and both gradients) in bfloat16 with float32 accumulation; the weights stay
      /// float32 (the master copy Adam updates) and the output is float32. Rounds weights and activations to 8
      /// mantissa bits, so it can change accuracy.
      Bf16: bool
      /// Convolutions only: float32 CPU convolutions with few inputs per window (C·k² ≤ 72, e.g. a DVS network's
      /// 2-channel first layer) take their weight gradient from the library's direct kernel (`DirectConv2d`) instead
      /// of libtorch's, and `ConvBatchNormLifPool` fuses its convolution with the block after it; the same maths,
      /// summed in another order.
      Direct: bool }

    /// The measured crossover of the sparse path on a 2-core AVX-512 machine (bench `sparse-threshold`, forward +
    /// weight gradient of W1's first layer: sparse 3.7x faster at 1 % activity, 1.5x at 10 %, 1.36x at 15 %, 0.83x
    /// at 20 %).
    static member DefaultSparseActivityThreshold = 0.15

    /// Dense float32, exactly `torch.nn.Linear` (and libtorch's convolution).
    static member Dense = { Sparse = false; SparseActivityThreshold = SpikeLinearOptions.DefaultSparseActivityThreshold; Bf16 = false; Direct = false }

    /// Whether this CPU runs bfloat16 dot products natively (Linux: the `avx512_bf16` or `amx_bf16` flag in
    /// /proc/cpuinfo). Without them oneDNN emulates bfloat16 and the lever is slower than float32.
    static member NativeBf16 : bool = Bf16Support.native.Force ()

    /// The default levers plus bfloat16 GEMMs where the CPU runs them natively.
    static member Fast = { SpikeLinearOptions.Default with Bf16 = SpikeLinearOptions.NativeBf16 }

    /// The default levers: float32, with the sparse path for input at most 15 % active (`Dense` otherwise) and the
    /// direct kernels for few inputs per window. They sum the same products in another order, so results agree with
    /// `Dense` to float32 rounding; bench/RESULTS.md has their speed (round 8: W1 training 16-17 against 24-27 ms per
    /// step) and their accuracy against `Dense` over seeds (rounds 8, 10 and 11).
    ///
    /// bfloat16 GEMMs stay off: they keep accuracy (final test accuracy of `snn train`'s default run -0.23 points on
    /// moving patterns, 98.72 ± 0.92 % against 98.95 ± 0.52 %, and -0.25 on event Fashion-MNIST, 84.87 ± 0.95 %
    /// against 85.12 ± 0.41 %, 6 seeds each: inside the seed spread), but on the 2-core avx512_bf16 machine the
    /// project is measured on they were slower than float32 (W1 training step 54 against 33 ms, W3 78 against 49 ms,
    /// W1 inference 18.5 against 12.7 ms), so they stay a lever (`Fast`, `--bf16 auto|on`) until a CPU runs them
    /// faster (bench/RESULTS.md, "bf16 decision").
    static member Default = { SpikeLinearOptions.Dense with Sparse = true; Direct = true }

/// Linear layer y = x Wᵀ + b ([..., K] → [..., N]) with optional sparse-spike and bfloat16 paths (see
/// `SpikeLinearOptions`); `Options` can be changed between calls.
type SpikeLinear(name: string, inputs: int, outputs: int, options: SpikeLinearOptions) as this =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do
        if inputs <= 0 then invalidArg "inputs" $"must be > 0, got {inputs}"
        if outputs <= 0 then invalidArg "outputs" $"must be > 0, got {outputs}"
        if not (options.SparseActivityThreshold >= 0.0 && options.SparseActivityThreshold <= 1.0) then
            invalidArg "options" $"SparseActivityThreshold must lie in [0, 1], got {options.SparseActivityThreshold}"
    // torch.nn.Linear's initialisation: U(±1/√K) for weight and bias.
    let weight, bias =
        use template = torch.nn.Linear (int64 inputs, int64 outputs)
        torch.nn.Parameter (template.weight.detach().clone ()), torch.nn.Parameter (template.bias.detach().clone ())
    do
        this.register_parameter ("weight", weight)
        this.register_parameter ("bias", bias)

    /// The weight W [N; K].
    member _.Weight : Tensor = weight
    /// The bias b [N].
    member _.Bias : Tensor = bias
    /// The levers of the next calls.
    member val Options = options with get, set
    /// Whether the last call ran the sparse path (for benchmarks and tests; when it did not, the next call counts
    /// its input's nonzeros before compressing it, see `SparseSpikes.rowsWithinExpecting`).
    member val LastCallSparse = false with get, set

    /// Multiplies weight and bias by `gain` (spiking layers fed by sparse spikes need larger weights to fire).
    member this.Scale (gain: float) : SpikeLinear =
        use _ = torch.no_grad ()
        weight.mul_ (gain.ToScalar ()) |> ignore
        bias.mul_ (gain.ToScalar ()) |> ignore
        this

    /// y [..., N] for x [..., K].
    override this.forward (x: Tensor) : Tensor =
        if isNull (box x) || x.dim () < 1L || x.shape.[x.shape.Length - 1] <> int64 inputs then
            invalidArg "x" $"must end in {inputs} features, got shape %A{(if isNull (box x) then [||] else x.shape)}"
        let leading = x.shape.[.. x.shape.Length - 2]
        let flat = x.reshape ([| -1L; int64 inputs |])
        let o = this.Options
        let active =
            if o.Sparse && x.dtype = torch.float32 && x.device_type = DeviceType.CPU then
                // After an input that did not run sparse, the next is counted before anything is written.
                SparseSpikes.rowsWithinExpecting (not this.LastCallSparse) o.SparseActivityThreshold flat
            else None
        this.LastCallSparse <- active.IsSome
        let y =
            match active with
            | Some rows -> SparseSpikes.linearOwning flat rows weight bias
            | None when o.Bf16 && x.dtype = torch.float32 ->
                let product = torch.nn.functional.linear (flat.``to`` torch.bfloat16, weight.``to`` torch.bfloat16)
                product.``to`` torch.float32 + bias
            | None -> torch.nn.functional.linear (flat, weight, bias)
        y.reshape (Array.append leading [| int64 outputs |])
