/// A 2-D convolution with the performance levers of `SpikeLinear` for spiking networks: sparse accumulation of
/// binary spike input and bfloat16 convolutions with float32 master weights. Same parameters ("weight"
/// [O; C; k; k], "bias" [O]), initialisation and maths as `torch.nn.Conv2d` with a square kernel, dilation 1 and
/// one group.
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Tensors

/// Conv2d [N; C; H; W] → [N; O; H'; W'] (H' = ⌊(H + 2·padding - kernel) / stride⌋ + 1) with the levers of
/// `SpikeLinearOptions`: binary float32 input on the CPU at most `SparseActivityThreshold` active runs the sparse
/// kernel (stride 1, padding ≤ kernel - 1, at least `MinimumSparseWindow` inputs per window; `SparseConv2d`); with
/// `Direct`, float32 CPU input with at most `DirectConv2d.maximumWindow` inputs per window takes its weight gradient
/// from the direct kernel (stride 1, AVX-512); other input the dense convolution (in bfloat16 with `Bf16`).
/// `Options` can be changed between calls.
type SpikeConv2d(name: string, inChannels: int, outChannels: int, kernel: int, stride: int, padding: int, bias: bool, options: SpikeLinearOptions) as this =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do
        if inChannels <= 0 then invalidArg "inChannels" $"must be > 0, got {inChannels}"
        if outChannels <= 0 then invalidArg "outChannels" $"must be > 0, got {outChannels}"
        if kernel <= 0 then invalidArg "kernel" $"must be > 0, got {kernel}"
        if stride <= 0 then invalidArg "stride" $"must be > 0, got {stride}"
        if padding < 0 then invalidArg "padding" $"must be >= 0, got {padding}"
        if not (options.SparseActivityThreshold >= 0.0 && options.SparseActivityThreshold <= 1.0) then
            invalidArg "options" $"SparseActivityThreshold must lie in [0, 1], got {options.SparseActivityThreshold}"
    // torch.nn.Conv2d's initialisation: U(±1/√(C·k²)) for weight and bias.
    let weight, biasParameter =
        use template = torch.nn.Conv2d (int64 inChannels, int64 outChannels, int64 kernel, bias = bias)
        torch.nn.Parameter (template.weight.detach().clone ()),
        (if bias then torch.nn.Parameter (template.bias.detach().clone ()) else null)
    do
        this.register_parameter ("weight", weight)
        if bias then this.register_parameter ("bias", biasParameter)

    /// A 3 × 3 (or any odd `kernel`) convolution that keeps the size: stride 1, padding kernel / 2, with bias.
    new(name: string, inChannels: int, outChannels: int, kernel: int, options: SpikeLinearOptions) =
        new SpikeConv2d(name, inChannels, outChannels, kernel, 1, kernel / 2, true, options)

    /// The fewest inputs per output window (C·k²) for which the sparse path runs. Each output costs the sparse
    /// path a fixed amount besides its sums (its initial value, the change of layout into libtorch's planes), so a
    /// layer with few products per output gains little from skipping most of them. Measured with W2's shapes
    /// (bench `sparse-conv-threshold`, forward + weight gradient at 10 % activity, against libtorch's convolution):
    /// 2 channels × 3 × 3 = 18 inputs per window 0.59-0.82x, 8 × 9 = 72 1.15x, 16 × 9 = 144 1.05x, 64 × 9 = 576
    /// 1.82x.
    static member MinimumSparseWindow = 64

    /// Input channels C.
    member _.InChannels = inChannels
    /// Output channels O.
    member _.OutChannels = outChannels
    /// Kernel size k (square).
    member _.KernelSize = kernel
    /// Stride (both directions).
    member _.Stride = stride
    /// Zero padding in pixels (both directions).
    member _.Padding = padding

    /// The weight W [O; C; k; k].
    member _.Weight : Tensor = weight
    /// The bias b [O] (null without bias).
    member _.Bias : Tensor = biasParameter
    /// The levers of the next calls.
    member val Options = options with get, set
    /// Whether the last call ran the sparse path (for benchmarks and tests).
    member val LastCallSparse = false with get, set
    /// Whether the last call took the direct weight gradient (for benchmarks and tests).
    member val LastCallDirect = false with get, set

    /// Multiplies weight and bias by `gain` (spiking layers fed by sparse spikes need larger weights to fire).
    member this.Scale (gain: float) : SpikeConv2d =
        use _ = torch.no_grad ()
        weight.mul_ (gain.ToScalar ()) |> ignore
        if bias then biasParameter.mul_ (gain.ToScalar ()) |> ignore
        this

    /// y [N; O; H'; W'] for x [N; C; H; W].
    override this.forward (x: Tensor) : Tensor =
        if isNull (box x) || x.dim () <> 4L || x.shape.[1] <> int64 inChannels then
            invalidArg "x" $"must be [N; {inChannels}; H; W], got shape %A{(if isNull (box x) then [||] else x.shape)}"
        let o = this.Options
        let masks =
            if o.Sparse && inChannels * kernel * kernel >= SpikeConv2d.MinimumSparseWindow && SparseConv2d.supports x kernel stride padding then
                SparseConv2d.masksWithin o.SparseActivityThreshold padding x
            else None
        let direct = masks.IsNone && o.Direct && not o.Bf16 && DirectConv2d.supports x outChannels kernel stride padding
        this.LastCallSparse <- masks.IsSome
        this.LastCallDirect <- direct
        let strides, paddings = [| int64 stride; int64 stride |], [| int64 padding; int64 padding |]
        match masks with
        | Some m -> SparseConv2d.apply x m weight biasParameter o.Bf16InputGradient
        | None when direct -> DirectConv2d.apply x weight biasParameter padding
        | None when o.Bf16 && x.dtype = torch.float32 ->
            let y = inBfloat16 (fun x16 w16 -> torch.nn.functional.conv2d (x16, w16, strides = strides, padding = paddings)) x weight
            if bias then y + biasParameter.reshape (1L, -1L, 1L, 1L) else y
        | None -> torch.nn.functional.conv2d (x, weight, biasParameter, strides = strides, padding = paddings)
