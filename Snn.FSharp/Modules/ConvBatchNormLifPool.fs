/// The first block of a DVS network, Conv2d → BatchNorm2d → LIF → 2 × 2 max pooling, as one time-aware layer run by
/// the fused kernel of Kernels/ConvBatchNormLifPool.fs where it can and by its layers otherwise.
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tensors

/// Conv2d (k × k, stride 1, padding k / 2, with bias) → BatchNorm2d → LIF neurons over time → 2 × 2 max pooling:
/// [T; B; C; H; W] → spikes [T; B; O; H'/2; W'/2], the block that takes a DVS network's event frames (SpikingJelly's
/// `Conv2d, BatchNorm2d, LIFNode, MaxPool2d` at the input).
///
/// Its children are "conv" (a `SpikeConv2d`, state dict keys conv.weight, conv.bias) and "block" (a
/// `BatchNormLifPool`: block.bn.*), and `ILayerChain` lists the conv, the batch norm, the neurons and the pooling.
/// Where the block itself fuses (training, the fused kernel, see `BatchNormLifPool`), the input needs no gradient
/// (it is the data), the conv's `Direct` lever is on (`SpikeLinearOptions.Default`; `Dense` keeps libtorch's
/// layers), the input is float32 contiguous on the CPU, H', W' are even and the window has at most `MaximumWindow`
/// inputs, one autograd node (`ConvBatchNormLifPoolFunction`) runs all four without writing the convolution's
/// output: batch norm's statistics come from the input's Gram matrix, the convolution runs one plane at a time and
/// the backward pass reads the neurons' charges (kept with the padded input and the pooling's choices) instead of
/// the convolution's output. Its results agree with the layers' to float32 rounding (not bit for bit), the conv bias
/// gets a zero gradient (batch norm removes any shift) and no forward hook of the children runs. Otherwise the conv
/// and the block run in turn.
type ConvBatchNormLifPool(name: string, inChannels: int, channels: int, kernel: int, neuron: LifParameters, kernelKind: Kernel, options: SpikeLinearOptions) as this =
    inherit TimeModule(name)
    let conv = new SpikeConv2d("conv", inChannels, channels, kernel, options)
    let block = new BatchNormLifPool("block", channels, neuron, kernelKind)
    do
        this.register_module ("conv", conv)
        this.register_module ("block", block)

    /// The most inputs per window (C·k²) the fused path takes; larger windows run the layers, whose cost grows more
    /// slowly with the window than the fused node's per-plane convolution. Measured (bench `input-block-threshold`,
    /// W2's first block with C·9 inputs per window, forward + backward, layers / fused, two runs, round 13): 9 inputs
    /// 1.88-2.14x, 18 1.44-1.78x, 36 1.44-1.59x, 54 1.20-1.28x, 72 0.98-1.11x, 90 0.86-0.96x, 108 0.75-0.78x, 144
    /// 0.58-0.61x. At 72 the two take about the same time and the fused node still saves the convolution's output.
    /// Settable, so that the benchmark can measure past it.
    static member val MaximumWindow = 72 with get, set

    /// The convolution.
    member _.Conv = conv
    /// Batch norm, neurons and pooling.
    member _.Block = block

    /// Whether the next call on x runs the fused kernel (see the type's description).
    member this.Fuses (x: Tensor) : bool =
        let bn = block.BatchNorm
        let p = int64 conv.Padding
        block.FusedMode && conv.Options.Direct && not conv.Options.Bf16 && not x.requires_grad
        && x.dim () = 5L && isCpuFloat32Contiguous x && x.shape.[0] > 0L && x.shape.[1] > 0L
        && conv.Stride = 1 && inChannels * kernel * kernel <= ConvBatchNormLifPool.MaximumWindow
        && contiguousCpuFloat32OrNull [ conv.Weight; conv.Bias; bn.Weight; bn.Bias; bn.RunningMean; bn.RunningVar ]
        && (let outHeight, outWidth = x.shape.[3] + 2L * p - int64 kernel + 1L, x.shape.[4] + 2L * p - int64 kernel + 1L
            let pitch = x.shape.[4] + 2L * p
            let rows = x.shape.[3] + 2L * p + int64 (ConvBatchNormLifPoolKernel.extraRows kernel (int (min pitch 65536L)))
            outHeight > 0L && outWidth > 0L && outHeight % 2L = 0L && outWidth % 2L = 0L && outHeight * outWidth > 1L
            // The kernels' 32-bit offsets reach the padded input and the output planes.
            && x.shape.[0] * x.shape.[1] * x.shape.[2] * rows * pitch <= int64 Int32.MaxValue
            && x.shape.[0] * x.shape.[1] * int64 channels * outHeight * outWidth <= int64 Int32.MaxValue)

    /// Spikes [T; B; O; H'/2; W'/2] of input x [T; B; C; H; W].
    override this.forward (x: Tensor) : Tensor =
        this.CheckTimeFirst (x, 5)
        if x.dim () <> 5L || x.shape.[2] <> int64 inChannels then invalidArg "x" $"must be [T; B; {inChannels}; H; W], got shape %A{x.shape}"
        let t, b = x.shape.[0], x.shape.[1]
        let merged = x.flatten (0L, 1L)
        if this.Fuses x then
            let bn = block.BatchNorm
            // Whether a backward pass can follow (the node's forward runs without gradient mode, so it is decided here).
            let backwardFollows =
                torch.is_grad_enabled () && [ conv.Weight; conv.Bias; bn.Weight; bn.Bias ] |> List.exists (fun p -> not (isNull p) && p.requires_grad)
            BatchNormLifPool.RunFused bn t b merged (fun () ->
                ConvBatchNormLifPoolFunction.apply (merged, box (int t), conv.Weight, conv.Bias, box conv.Padding, bn.Weight, bn.Bias,
                                                    bn.RunningMean, bn.RunningVar, box bn.Momentum, box bn.Eps, box block.Spec.Value,
                                                    box backwardFollows))
        else
            let currents = conv.call merged
            releaseConsumed merged currents
            let timed = currents.unflatten (0L, [| t; b |])
            releaseConsumed currents timed
            block.call timed

    /// The conv, batch norm, neurons and pooling, in the order forward runs them.
    interface ILayerChain with
        member _.Chain = [| conv; block.BatchNorm; block.Neurons; block.Pool |]
