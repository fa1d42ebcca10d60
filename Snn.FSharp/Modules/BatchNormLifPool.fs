/// The block BatchNorm2d → LIF → 2 × 2 max pooling as one time-aware layer, run by the fused kernel of
/// Kernels/BatchNormLifPool.fs where it can and by its three layers otherwise, with the same results either way.
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tensors

/// BatchNorm2d (statistics over T·B·H·W) → LIF neurons over time → 2 × 2 max pooling with stride 2:
/// [T; B; C; H; W] → spikes [T; B; C; H/2; W/2], the block after each convolution of a spiking VGG / DVS network
/// (SpikingJelly's `Conv2d, BatchNorm2d, LIFNode, MaxPool2d` sequence).
///
/// Its three layers are children named "bn", "lif" and "pool" (state dict keys bn.weight, bn.bias, bn.running_mean,
/// bn.running_var, bn.num_batches_tracked), and `ILayerChain` lists them for whole-network tools. In training mode
/// with the fused kernel, float32 CPU input, even H and W, vectorised kernels (`FusedKernelSettings.Vectorised`) and
/// LIF parameters the fused kernel runs, one autograd node (`BatchNormLifPoolFunction`) does the work of the three
/// with the same outputs and gradients, bit for bit, in fewer passes over memory; it then runs no forward hook of
/// the children (a `SpikeMonitor` on "lif" records nothing), so monitor the block itself or use separate layers.
/// Otherwise (evaluation, the reference kernel, other dtypes or devices, odd sizes) the three layers run in turn.
type BatchNormLifPool(name: string, channels: int, neuron: LifParameters, kernel: Kernel, eps: float, momentum: float) as this =
    inherit TimeModule(name)
    let bn = new BatchNorm2dLayer("bn", channels, eps, momentum, true)
    let lif = new LifLayer("lif", neuron, kernel)
    let pool = new MaxPool2x2Layer("pool")
    let spec = match Dynamics.lifSpec lif.Neuron with Ok s -> Some s | Error _ -> None
    do
        this.register_module ("bn", bn)
        this.register_module ("lif", lif)
        this.register_module ("pool", pool)

    /// torch's batch-norm defaults: eps 1e-5, momentum 0.1.
    new(name: string, channels: int, neuron: LifParameters, kernel: Kernel) = new BatchNormLifPool(name, channels, neuron, kernel, 1e-5, 0.1)

    /// The batch normalisation.
    member _.BatchNorm = bn
    /// The neurons.
    member _.Neurons = lif
    /// The pooling.
    member _.Pool = pool

    /// The fused kernel's LIF parameters (None where it does not run these neurons).
    member internal _.Spec = spec

    /// Whether the block runs fused kernels in its present mode: training, the vectorised fused kernel, neurons it
    /// runs (the input's shape and device decide the rest).
    member this.FusedMode : bool = this.training && kernel = Fused && spec.IsSome && FusedKernelSettings.Vectorised

    /// Whether the next call on x runs the fused kernel (see the type's description).
    member this.Fuses (x: Tensor) : bool =
        this.FusedMode
        && x.dim () = 5L && Dynamics.fusedRuns x.device_type x.dtype && x.is_contiguous ()
        && x.shape.[0] > 0L && x.shape.[3] % 2L = 0L && x.shape.[4] % 2L = 0L
        && (use merged = x.flatten (0L, 1L) in BatchNorm2d.fusable merged bn.Weight bn.Bias bn.RunningMean bn.RunningVar)

    /// Counts a batch on bn, runs `apply` (one fused autograd node over merged [T·B; ...]) and returns its output as
    /// [T; B; ...], releasing the handles in between (as `SpikingSequential` does).
    static member internal RunFused (bn: BatchNorm2dLayer) (t: int64) (b: int64) (merged: Tensor) (apply: unit -> Tensor) : Tensor =
        do
            use _ = torch.no_grad ()
            bn.BatchesTracked.add_ (1L.ToScalar ()) |> ignore
        let pooled = apply ()
        FunctionHandles.release ()
        releaseConsumed merged pooled
        let output = pooled.unflatten (0L, [| t; b |])
        releaseConsumed pooled output
        output

    /// Spikes [T; B; C; H/2; W/2] of input currents x [T; B; C; H; W].
    override this.forward (x: Tensor) : Tensor =
        this.CheckTimeFirst (x, 5)
        if x.dim () <> 5L || x.shape.[2] <> int64 channels then invalidArg "x" $"must be [T; B; {channels}; H; W], got shape %A{x.shape}"
        let t, b = x.shape.[0], x.shape.[1]
        let merged = x.flatten (0L, 1L)
        if this.Fuses x then
            BatchNormLifPool.RunFused bn t b merged (fun () ->
                BatchNormLifPoolFunction.apply (merged, box (int t), bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar,
                                                box momentum, box eps, box spec.Value))
        else
            // Each intermediate handle is released once the next layer has consumed it (as `SpikingSequential` does).
            let normalised = bn.call merged
            releaseConsumed merged normalised
            let currents = normalised.unflatten (0L, [| t; b |])
            releaseConsumed normalised currents
            let spikes = lif.call currents
            releaseConsumed currents spikes
            let spikesMerged = spikes.flatten (0L, 1L)
            releaseConsumed spikes spikesMerged
            let pooled = pool.call spikesMerged
            releaseConsumed spikesMerged pooled
            let output = pooled.unflatten (0L, [| t; b |])
            releaseConsumed pooled output
            output

    /// The three layers, in the order forward runs them.
    interface ILayerChain with
        member _.Chain = [| bn; lif; pool |]
