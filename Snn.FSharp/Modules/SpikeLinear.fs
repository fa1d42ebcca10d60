/// A Linear layer with the performance levers for spiking networks: sparse accumulation of spike / event input
/// and bfloat16 GEMMs with float32 master weights. Same parameters ("weight" [N; K], "bias" [N]), initialisation
/// and maths as `torch.nn.Linear`: y = x Wᵀ + b over the last dimension.
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Detection of native bfloat16 arithmetic, read once from /proc/cpuinfo (Linux; elsewhere neither holds).
module internal Bf16Support =
    let private cpuInfo =
        lazy (
            try
                let path = "/proc/cpuinfo"
                if IO.File.Exists path then IO.File.ReadAllText path else ""
            with :? IO.IOException | :? UnauthorizedAccessException -> "")

    let private has (flag: string) = cpuInfo.Force().Contains (" " + flag)

    /// bfloat16 dot products in hardware: AVX-512 BF16 or AMX.
    let native = lazy (has "avx512_bf16" || has "amx_bf16")

    /// bfloat16 dot products that do more multiply-adds per cycle than float32 FMAs: AMX, or AVX-512 BF16 on AMD
    /// (Zen 4 on: W2's input gradient 2x faster, bench/RESULTS.md round 17). Intel's AVX-512 BF16 without AMX does
    /// not (round 8: a bfloat16 GEMM at half the float32 rate, the conversions on top).
    let faster = lazy (has "amx_bf16" || (has "avx512_bf16" && cpuInfo.Force().Contains "AuthenticAMD"))

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
      /// Compute the sparse path's input gradient ∂L/∂x = ∂L/∂y · W (for a convolution the transposed convolution
      /// of ∂L/∂y with W), a dense product, in bfloat16 with float32 accumulation. The forward pass and the weight
      /// and bias gradients stay float32; only this gradient's operands are rounded to 8 mantissa bits (relative
      /// error about 2⁻⁸ per product).
      Bf16InputGradient: bool
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
    static member Dense =
        { Sparse = false; SparseActivityThreshold = SpikeLinearOptions.DefaultSparseActivityThreshold; Bf16 = false
          Bf16InputGradient = false; Direct = false }

    /// Whether this CPU runs bfloat16 dot products natively (Linux: the `avx512_bf16` or `amx_bf16` flag in
    /// /proc/cpuinfo). Without them oneDNN emulates bfloat16 and the lever is slower than float32.
    static member NativeBf16 : bool = Bf16Support.native.Force ()

    /// Whether this CPU's bfloat16 dot products outrun its float32 FMAs (Linux: `amx_bf16`, or `avx512_bf16` on an
    /// AMD CPU). There the bfloat16 input gradient is on by default.
    static member FasterBf16 : bool = Bf16Support.faster.Force ()

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
    ///
    /// The sparse path's input gradient runs in bfloat16 where the CPU's bfloat16 dot products outrun float32
    /// (`FasterBf16`). On the 2-core AMD machine of round 17 that takes W2's training step from 97-114 to 84-94 ms
    /// (its second convolution's transposed convolution twice as fast), and final test accuracy does not drop,
    /// float32 → bfloat16 input gradient over seeds: W2's network on moving patterns 99.63 ± 0.15 → 99.67 ± 0.21 %
    /// (3 seeds) and on event Fashion-MNIST 71.35 ± 1.03 → 72.62 ± 0.74 % (6 seeds); `snn train`'s default run
    /// 97.73 ± 0.29 → 97.83 ± 0.55 % and 84.80 ± 0.90 → 84.83 ± 0.58 % (3 seeds each; bench/RESULTS.md, round 17).
    static member Default = { SpikeLinearOptions.Dense with Sparse = true; Direct = true; Bf16InputGradient = SpikeLinearOptions.FasterBf16 }

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
            | Some rows -> SparseSpikes.linearOwning flat rows weight bias o.Bf16InputGradient
            | None when o.Bf16 && x.dtype = torch.float32 ->
                inBfloat16 (fun x16 w16 -> torch.nn.functional.linear (x16, w16)) flat weight + bias
            | None -> torch.nn.functional.linear (flat, weight, bias)
        y.reshape (Array.append leading [| int64 outputs |])
