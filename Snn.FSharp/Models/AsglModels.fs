/// The two networks of the ASGL seed (Wang et al., "Adaptive Smoothing Gradient Learning for Spiking Neural
/// Networks", ICML 2023): a spiking ResNet-18 for static images (CIFAR-10/100, input repeated over T steps) and
/// VGGSNN for event frames (CIFAR10-DVS, DVS128 Gesture at 48×48). Both are built from LIF neuron layers and
/// time-distributed convolution / normalisation over time-first tensors [T; B; C; H; W], and both end in a Linear
/// read-out without a neuron, so their output [T; B; classes] is the per-step logit (the TET loss `Loss.tet`
/// trains each step; summing over time, as `Loss.crossEntropyOnCounts` does, gives the rate read-out).
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tensors

/// The normalisation after every convolution of the ASGL networks.
type AsglNorm =
    /// BatchNorm2d with statistics over (T, B, H, W) of the merged [T·B] batch and a learnable scale and shift per
    /// channel (the seed's `tdbn` option: one BatchNorm shared by all time steps).
    | BatchNorm
    /// Threshold-dependent BN (Zheng et al. 2021): the same statistics, scaled to α·V_th (`ThresholdDependentBatchNorm`
    /// with α = 1 and the neuron's threshold), learnable λ and β per channel.
    | ThresholdDependent

/// Building blocks shared by the ASGL networks.
[<RequireQualifiedAccess>]
module AsglBlocks =
    /// The seed's neuron: LIF with decay β = exp(-dt/τ_m) = 0.5 per step (τ_m = dt / ln 2, dt = 1 ms), threshold 1,
    /// hard reset to 0, exact integration, the default surrogate.
    let defaultNeuron : LifParameters = { LifParameters.Default with Dt = 1.0; TauMem = 1.0 / Math.Log 2.0 }

    /// A k×k convolution without bias (the following normalisation has its own shift), padding k/2, run over
    /// the merged [T·B] batch: [T; B; C_in; H; W] → [T; B; C_out; H/stride; W/stride].
    let conv (name: string) (inChannels: int) (outChannels: int) (kernel: int) (stride: int) (bias: bool) : TimeDistributed =
        new TimeDistributed(name,
            torch.nn.Conv2d (int64 inChannels, int64 outChannels, int64 kernel, stride = int64 stride,
                             padding = int64 (kernel / 2), bias = bias))

    /// The normalisation layer of `channels` channels for inputs [T; B; C; H; W].
    let norm (kind: AsglNorm) (name: string) (channels: int) (neuron: LifParameters) : torch.nn.Module<Tensor, Tensor> =
        match kind with
        | BatchNorm -> TimeLayers.batchNorm2d name channels
        | ThresholdDependent -> new ThresholdDependentBatchNorm(name, channels, 1.0, neuron.VThreshold)

    /// A LIF layer (a `NeuronLayer`, so monitors record its membrane and a threshold modulation applies) running
    /// the recurrence with `kernel`.
    let lif (name: string) (neuron: LifParameters) (kernel: Kernel) : NeuronLayer =
        let layer = new ModulatedLifLayer(name, neuron)
        layer.Kernel <- kernel
        layer

/// The basic residual block of a spiking ResNet (He et al. 2016, with LIF in place of ReLU):
///     y = LIF( N(conv3×3(LIF(N(conv3×3_s(x))))) + shortcut(x) ),
/// where shortcut(x) = x when shape is kept, and N(conv1×1_s(x)) when the stride s ≠ 1 or the channels change.
/// [T; B; C_in; H; W] → spikes [T; B; C_out; H/s; W/s].
type SpikingBasicBlock(name: string, inChannels: int, outChannels: int, stride: int, norm: AsglNorm,
                       neuron: LifParameters, kernel: Kernel) as this =
    inherit TimeModule(name)
    do
        if inChannels <= 0 then invalidArg "inChannels" $"must be > 0, got {inChannels}"
        if outChannels <= 0 then invalidArg "outChannels" $"must be > 0, got {outChannels}"
        if stride <= 0 then invalidArg "stride" $"must be > 0, got {stride}"
    let conv1 = AsglBlocks.conv "conv1" inChannels outChannels 3 stride false
    let norm1 = AsglBlocks.norm norm "norm1" outChannels neuron
    let lif1 = AsglBlocks.lif "lif1" neuron kernel
    let conv2 = AsglBlocks.conv "conv2" outChannels outChannels 3 1 false
    let norm2 = AsglBlocks.norm norm "norm2" outChannels neuron
    let projection =
        if stride <> 1 || inChannels <> outChannels then
            Some (AsglBlocks.conv "shortcut_conv" inChannels outChannels 1 stride false,
                  AsglBlocks.norm norm "shortcut_norm" outChannels neuron)
        else None
    let lif2 = AsglBlocks.lif "lif2" neuron kernel
    do
        this.register_module ("conv1", conv1)
        this.register_module ("norm1", norm1)
        this.register_module ("lif1", lif1)
        this.register_module ("conv2", conv2)
        this.register_module ("norm2", norm2)
        projection |> Option.iter (fun (c, n) ->
            this.register_module ("shortcut_conv", c)
            this.register_module ("shortcut_norm", n))
        this.register_module ("lif2", lif2)

    /// Whether the shortcut is a 1×1 convolution with normalisation (true) or the identity (false).
    member _.HasProjection = projection.IsSome

    /// Spikes [T; B; C_out; H/s; W/s] for input [T; B; C_in; H; W].
    override this.forward (x: Tensor) : Tensor =
        this.CheckTimeFirst (x, 5)
        let residual = x |> conv1.call |> norm1.call |> lif1.call |> conv2.call |> norm2.call
        let shortcut =
            match projection with
            | Some (c, n) -> x |> c.call |> n.call
            | None -> x
        lif2.call (residual + shortcut)

/// The spiking ResNet-18 of the ASGL seed (the CIFAR form of ResNet-18): a 3×3 stem of 64 channels (stride 1,
/// no max-pool) with normalisation and LIF; four stages of two `SpikingBasicBlock`s with 64, 128, 256 and 512
/// channels and strides 1, 2, 2, 2; global average pooling; Linear(512, classes) with bias as the read-out.
/// Convolutions have no bias. Input [T; B; C_in; H; W] (static images repeated over T, e.g. T = 2) → logits
/// [T; B; classes]. With 3 input channels and 10 classes it has 11,173,962 trainable parameters.
type SpikingResNet18(inChannels: int, classes: int, norm: AsglNorm, neuron: LifParameters, kernel: Kernel) as this =
    inherit torch.nn.Module<Tensor, Tensor>("SpikingResNet18")
    do
        if inChannels <= 0 then invalidArg "inChannels" $"must be > 0, got {inChannels}"
        if classes <= 1 then invalidArg "classes" $"must be > 1, got {classes}"
    let neuron = Lif.validate neuron
    let stem =
        new SpikingSequential("stem", [|
            AsglBlocks.conv "conv" inChannels 64 3 1 false :> torch.nn.Module<Tensor, Tensor>
            AsglBlocks.norm norm "norm" 64 neuron
            AsglBlocks.lif "lif" neuron kernel |])
    let stages =
        let widths = [| 64; 128; 256; 512 |]
        [| for s in 0 .. 3 ->
            let input = if s = 0 then 64 else widths.[s - 1]
            let stride = if s = 0 then 1 else 2
            new SpikingSequential($"stage{s + 1}", [|
                new SpikingBasicBlock("block1", input, widths.[s], stride, norm, neuron, kernel) :> torch.nn.Module<Tensor, Tensor>
                new SpikingBasicBlock("block2", widths.[s], widths.[s], 1, norm, neuron, kernel) |]) |]
    let pool = new TimeDistributed("pool", torch.nn.AdaptiveAvgPool2d ([| 1L; 1L |]))
    let flatten = new TimeFlatten("flatten")
    let classifier = TimeLayers.linear "classifier" 512 classes
    do
        this.register_module ("stem", stem)
        stages |> Array.iteri (fun i s -> this.register_module ($"stage{i + 1}", s))
        this.register_module ("pool", pool)
        this.register_module ("flatten", flatten)
        this.register_module ("classifier", classifier)

    /// The seed's configuration: BN over (T, B, H, W), LIF with decay 0.5 (`AsglBlocks.defaultNeuron`), reference kernel.
    new(inChannels: int, classes: int) = new SpikingResNet18(inChannels, classes, BatchNorm, AsglBlocks.defaultNeuron, Reference)

    /// The four residual stages, in order.
    member _.Stages = stages

    /// Logits [T; B; classes] for input [T; B; C_in; H; W].
    override _.forward (x: Tensor) : Tensor =
        if isNull (box x) || x.dim () <> 5L || x.shape.[2] <> int64 inChannels then
            invalidArg "x" $"must be [T; B; {inChannels}; H; W], got shape %A{(if isNull (box x) then [||] else x.shape)}"
        if x.shape.[3] < 8L || x.shape.[4] < 8L then invalidArg "x" $"is {x.shape.[3]}×{x.shape.[4]}, too small for three stride-2 stages"
        let mutable y = stem.call x
        for s in stages do y <- s.call y
        y |> pool.call |> flatten.call |> classifier.call

/// VGGSNN of the ASGL seed (after Deng et al. 2022, TET) for event frames: eight 3×3 convolutions (stride 1,
/// padding 1) with 64, 128, 256, 256, 512, 512, 512, 512 channels, each followed by normalisation and LIF, with a
/// 2×2 average pooling after the 2nd, 4th, 6th and 8th; then flatten and Linear(512·(H/16)·(W/16), classes) as the
/// read-out. Input [T; B; C_in; H; W] (2 polarity channels at 48×48 for CIFAR10-DVS) → logits [T; B; classes].
/// With bias in every convolution, 2 × 48 × 48 input and 10 classes it has 9,271,498 trainable parameters.
type AsglVggSnn(inChannels: int, height: int, width: int, classes: int, convolutionBias: bool, norm: AsglNorm,
                neuron: LifParameters, kernel: Kernel) as this =
    inherit torch.nn.Module<Tensor, Tensor>("AsglVggSnn")
    do
        if inChannels <= 0 then invalidArg "inChannels" $"must be > 0, got {inChannels}"
        if height < 16 then invalidArg "height" $"must be >= 16 for four 2×2 poolings, got {height}"
        if width < 16 then invalidArg "width" $"must be >= 16 for four 2×2 poolings, got {width}"
        if classes <= 1 then invalidArg "classes" $"must be > 1, got {classes}"
    let neuron = Lif.validate neuron
    // Channel plan: 0 marks a 2×2 average pooling.
    static let plan = [| 64; 128; 0; 256; 256; 0; 512; 512; 0; 512; 512; 0 |]
    let features =
        let mutable channels = inChannels
        let mutable convs = 0
        new SpikingSequential("features", [|
            for c in plan do
                if c = 0 then yield TimeLayers.avgPool2d "pool" 2 :> torch.nn.Module<Tensor, Tensor>
                else
                    convs <- convs + 1
                    yield AsglBlocks.conv $"conv{convs}" channels c 3 1 convolutionBias
                    yield AsglBlocks.norm norm $"norm{convs}" c neuron
                    yield AsglBlocks.lif $"lif{convs}" neuron kernel
                    channels <- c |])
    let flat = 512 * (height / 16) * (width / 16)
    let flatten = new TimeFlatten("flatten")
    let classifier = TimeLayers.linear "classifier" flat classes
    do
        this.register_module ("features", features)
        this.register_module ("flatten", flatten)
        this.register_module ("classifier", classifier)

    /// The seed's configuration for CIFAR10-DVS: 2 × 48 × 48 frames, 10 classes, convolution bias, BN over
    /// (T, B, H, W), LIF with decay 0.5, reference kernel.
    new() = new AsglVggSnn(2, 48, 48, 10, true, BatchNorm, AsglBlocks.defaultNeuron, Reference)

    /// The features entering the read-out: 512 · (H/16) · (W/16).
    member _.FeatureCount = flat

    /// The feature layers (conv, norm, LIF, and pooling), in order.
    member _.Features = features

    /// Logits [T; B; classes] for input [T; B; C_in; height; width].
    override _.forward (x: Tensor) : Tensor =
        if isNull (box x) || x.dim () <> 5L || x.shape.[2] <> int64 inChannels || x.shape.[3] <> int64 height || x.shape.[4] <> int64 width then
            invalidArg "x" $"must be [T; B; {inChannels}; {height}; {width}], got shape %A{(if isNull (box x) then [||] else x.shape)}"
        x |> features.call |> flatten.call |> classifier.call
