/// TorchSharp modules for spiking networks. They hold trainable tensors and call the pure functions of the core;
/// the dynamics are written once, in `Snn.Neurons`. All tensors are time-first, [T; B; ...].
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tensors

/// A network whose forward pass is its layers called one after the other on time-first tensors [T; B; ...]
/// (stateless layers over the merged [T·B] batch, see `SpikingSequential.IsTimeAware`). Whole-network tools
/// (the calibrated initialisation, deployment) walk `Chain` instead of guessing the order from registration.
type ILayerChain =
    /// The layers in the order forward runs them.
    abstract Chain : torch.nn.Module<Tensor, Tensor>[]

/// Runs a stateless layer (Linear, Conv, ...) once over the merged [T·B; ...] batch instead of T times:
/// [T; B; ...] → [T·B; ...] → layer → [T; B; ...]. One large GEMM instead of T small ones.
type TimeDistributed(name: string, inner: torch.nn.Module<Tensor, Tensor>) as this =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do this.register_module ("inner", inner)

    /// The wrapped layer.
    member _.Inner = inner

    /// Applies the layer to every time step of x ([T; B; ...]).
    override _.forward (x: Tensor) : Tensor =
        if x.dim () < 2 then invalidArg "x" $"must be time-first [T; B; ...], got shape %A{x.shape}"
        let t, b = x.shape.[0], x.shape.[1]
        // The merged views are released as soon as they are consumed (see `releaseConsumed`).
        let merged = x.flatten (0L, 1L)
        let y = inner.call merged
        releaseConsumed merged y
        let output = y.unflatten (0L, [| t; b |])
        releaseConsumed y output
        output

/// torch.nn.MaxPool2d(2) on [N; C; H; W] (or [C; H; W]) through the fused 2 × 2 kernel for float32 on the CPU
/// (`MaxPool2x2`): the same outputs and gradients as libtorch's operator, ties included, in one pass over memory
/// each way. No parameters or buffers, so state dicts are those of a MaxPool2d.
type MaxPool2x2Layer(name: string) =
    inherit torch.nn.Module<Tensor, Tensor>(name)

    /// Pools 2 × 2 windows with stride 2.
    override _.forward (x: Tensor) : Tensor = MaxPool2x2.apply x

/// torch.nn.BatchNorm2d on [N; C; H; W]: in training mode through the fused kernel (`BatchNorm2d`) for float32
/// contiguous CPU input, bit for bit libtorch's results (outputs, gradients, running estimates) in less time;
/// otherwise (evaluation, other dtypes or devices) libtorch's operator. Parameters and buffers are named like
/// torch's (weight, bias, running_mean, running_var, num_batches_tracked), so state dicts are those of a
/// BatchNorm2d. momentum is a fixed fraction (torch's momentum = None, the cumulative average, is not offered).
type BatchNorm2dLayer(name: string, channels: int, eps: float, momentum: float, affine: bool) as this =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do
        if channels <= 0 then invalidArg "channels" $"must be > 0, got {channels}"
        if not (eps >= 0.0) || Double.IsInfinity eps then invalidArg "eps" $"must be a finite number >= 0, got {eps}"
        if not (momentum >= 0.0 && momentum <= 1.0) then invalidArg "momentum" $"must be in [0, 1], got {momentum}"
    let weight = if affine then torch.nn.Parameter (torch.ones (int64 channels)) else null
    let bias = if affine then torch.nn.Parameter (torch.zeros (int64 channels)) else null
    let runningMean = torch.zeros (int64 channels)
    let runningVar = torch.ones (int64 channels)
    let batchesTracked = torch.tensor (0L)
    do
        if affine then
            this.register_parameter ("weight", weight)
            this.register_parameter ("bias", bias)
        this.register_buffer ("running_mean", runningMean)
        this.register_buffer ("running_var", runningVar)
        this.register_buffer ("num_batches_tracked", batchesTracked)

    /// torch's defaults: eps 1e-5, momentum 0.1, learnable weight and bias.
    new(name: string, channels: int) = new BatchNorm2dLayer(name, channels, 1e-5, 0.1, true)

    /// The learnable scale [C] (null without affine parameters).
    member _.Weight : Tensor = weight
    /// The learnable shift [C] (null without affine parameters).
    member _.Bias : Tensor = bias
    /// The running mean [C].
    member _.RunningMean : Tensor = runningMean
    /// The running (unbiased) variance [C].
    member _.RunningVar : Tensor = runningVar
    /// The number of training-mode calls so far (a scalar int64 buffer, as torch's).
    member _.BatchesTracked : Tensor = batchesTracked
    /// The channels C.
    member _.Channels = channels
    /// ε added to the variance.
    member _.Eps = eps
    /// The fraction μ_B by which each training-mode call moves the running estimates.
    member _.Momentum = momentum

    /// Normalises x [N; C; H; W] with the batch statistics (training, updating the running estimates) or the
    /// running estimates (evaluation).
    override this.forward (x: Tensor) : Tensor =
        if isNull (box x) then nullArg "x"
        if x.dim () <> 4L || x.shape.[1] <> int64 channels then invalidArg "x" $"must be [N; {channels}; H; W], got shape %A{x.shape}"
        if this.training then
            use _ = torch.no_grad ()
            batchesTracked.add_ (1L.ToScalar ()) |> ignore
        BatchNorm2d.apply x runningMean runningVar weight bias this.training momentum eps

/// A population of LIF neurons over time: spikes [T; B; ...] from input currents [T; B; ...], starting at rest on
/// every call (state is explicit, so nothing needs resetting between batches).
/// `kernel` chooses the fused multi-step kernel or the reference per-step functions (which also support double
/// backward); both give the same spikes and gradients.
type LifLayer(name: string, neuron: LifParameters, kernel: Kernel) =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    let neuron = Lif.validate neuron

    /// A layer run by the reference per-step functions.
    new(name: string, neuron: LifParameters) = new LifLayer(name, neuron, Reference)

    /// The neuron parameters.
    member _.Neuron = neuron

    /// The kernel that runs the recurrence.
    member _.Kernel = kernel

    /// Runs the neurons from rest over time dimension 0 of the input currents.
    override _.forward (input: Tensor) : Tensor = Dynamics.lif kernel neuron input

/// Weight initialisation for spiking layers.
[<RequireQualifiedAccess>]
module Init =
    /// A Linear layer whose default initialisation (uniform in ±1/√fan_in) is scaled by `gain`.
    /// Spiking layers fed by sparse binary inputs stay silent at the default scale, and a silent network only
    /// learns through the surrogate's tails (the peers' benchmarks multiply by 8 for the same reason).
    let scaledLinear (inputs: int) (outputs: int) (gain: float) : torch.nn.Module<Tensor, Tensor> =
        let layer = torch.nn.Linear (int64 inputs, int64 outputs)
        if gain <> 1.0 then
            use _ = torch.no_grad ()
            layer.weight.mul_ (torch.tensor gain) |> ignore
            layer.bias.mul_ (torch.tensor gain) |> ignore
        layer

/// A fully connected spiking network: Linear → LIF → Linear → LIF, each Linear run over the merged [T·B] batch.
/// Input [T; B; inputs] (e.g. flattened event frames), output spikes [T; B; outputs]. `weightGain` scales the
/// default initialisation of both Linear layers; `kernel` runs the LIF recurrences (see `LifLayer`); `linear`, when
/// given, runs both Linear layers as `SpikeLinear` with those levers (sparse spikes, bf16), same parameter names.
type DenseSnn(inputs: int, hidden: int, outputs: int, neuron: LifParameters, weightGain: float, kernel: Kernel, linear: SpikeLinearOptions option) as this =
    inherit torch.nn.Module<Tensor, Tensor>("DenseSnn")
    do
        if inputs <= 0 then invalidArg "inputs" $"must be > 0, got {inputs}"
        if hidden <= 0 then invalidArg "hidden" $"must be > 0, got {hidden}"
        if outputs <= 0 then invalidArg "outputs" $"must be > 0, got {outputs}"
        if not (weightGain > 0.0) || Double.IsInfinity weightGain then
            invalidArg "weightGain" $"must be a finite number > 0, got {weightGain}"
    let makeLinear a b : torch.nn.Module<Tensor, Tensor> =
        match linear with
        | Some options -> (new SpikeLinear("inner", a, b, options)).Scale weightGain
        | None -> Init.scaledLinear a b weightGain
    let fc1 = new TimeDistributed("fc1", makeLinear inputs hidden)
    let lif1 = new LifLayer("lif1", neuron, kernel)
    let fc2 = new TimeDistributed("fc2", makeLinear hidden outputs)
    let lif2 = new LifLayer("lif2", neuron, kernel)
    do
        this.register_module ("fc1", fc1)
        this.register_module ("lif1", lif1)
        this.register_module ("fc2", fc2)
        this.register_module ("lif2", lif2)

    /// The network with plain float32 `torch.nn.Linear` layers.
    new(inputs: int, hidden: int, outputs: int, neuron: LifParameters, weightGain: float, kernel: Kernel) =
        new DenseSnn(inputs, hidden, outputs, neuron, weightGain, kernel, None)

    /// The network with the default initialisation scale (weightGain = 1) and the reference kernel.
    new(inputs: int, hidden: int, outputs: int, neuron: LifParameters) = new DenseSnn(inputs, hidden, outputs, neuron, 1.0, Reference, None)

    /// The network with the reference kernel.
    new(inputs: int, hidden: int, outputs: int, neuron: LifParameters, weightGain: float) =
        new DenseSnn(inputs, hidden, outputs, neuron, weightGain, Reference, None)

    /// Output spikes [T; B; outputs] for input [T; B; inputs].
    override _.forward (x: Tensor) : Tensor =
        // `call` (not `forward`) runs the children's hooks, so monitors see them.
        x |> fc1.call |> lif1.call |> fc2.call |> lif2.call

    /// fc1, lif1, fc2, lif2: forward is their composition.
    interface ILayerChain with
        member _.Chain = [| fc1; lif1; fc2; lif2 |]
