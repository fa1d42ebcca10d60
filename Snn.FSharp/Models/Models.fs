/// The networks of thesis ch. 3: a VGG-like convolutional feature block of PLIF neurons, an MLP classifier block
/// of PLIF neurons with shared-mask dropout, and the two joined with average voting. Time-first throughout.
namespace Snn.Modules

open System
open TorchSharp
open Snn.Neurons
open Snn.Tensors

/// The VGG-like feature block (thesis ch. 3, table 2): `layers` times
/// conv 3×3 (stride 1, padding 1, `channels` filters) → BatchNorm (statistics over T·B) → PLIF → max-pool 2×2.
/// Input [T; B; C_in; H; W] → spikes [T; B; channels; H/2^L; W/2^L]. Each PLIF layer learns one time constant.
type VggFeatureBlock(inChannels: int, layers: int, channels: int, neuron: PlifParameters) as this =
    inherit torch.nn.Module<Tensor, Tensor>("VggFeatureBlock")
    do
        if inChannels <= 0 then invalidArg "inChannels" $"must be > 0, got {inChannels}"
        if layers <= 0 then invalidArg "layers" $"must be > 0, got {layers}"
        if channels <= 0 then invalidArg "channels" $"must be > 0, got {channels}"
    let body =
        new SpikingSequential("body", [|
            for l in 0 .. layers - 1 do
                yield torch.nn.Conv2d (int64 (if l = 0 then inChannels else channels), int64 channels, 3L, padding = 1L) :> torch.nn.Module<Tensor, Tensor>
                yield new BatchNorm2dLayer($"bn{l + 1}", channels)
                yield new PlifLayer($"plif{l + 1}", neuron)
                yield new MaxPool2x2Layer($"pool{l + 1}") |])
    do this.register_module ("body", body)

    /// The thesis configuration: 128 channels, PLIF with default parameters.
    new(inChannels: int, layers: int) = new VggFeatureBlock(inChannels, layers, 128, PlifParameters.Default)

    /// The layers in order (conv, BN, PLIF, pool per block).
    member _.Body = body

    /// The spatial size after the block for an input of size `size`: size / 2^layers (floored at every pool).
    member _.OutputSize (size: int) : int = Seq.fold (fun s _ -> s / 2) size (seq { 1 .. layers })

    /// Spikes [T; B; channels; H'; W'] for input [T; B; C_in; H; W].
    override _.forward (x: Tensor) : Tensor =
        if x.dim () <> 5 || x.shape.[2] <> int64 inChannels then
            invalidArg "x" $"must be [T; B; {inChannels}; H; W], got shape %A{x.shape}"
        if x.shape.[3] < pown 2L layers || x.shape.[4] < pown 2L layers then
            invalidArg "x" $"is {x.shape.[3]}×{x.shape.[4]}, too small for {layers} 2×2 poolings"
        body.call x

/// An MLP block of PLIF neurons: for each pair of consecutive sizes, Linear (over T·B) → PLIF, with shared-mask
/// dropout `dropout` before every Linear except the first (thesis ch. 3 uses 0.5). Input [T; B; sizes.[0]] →
/// spikes [T; B; sizes.[last]].
type MlpBlock(sizes: int[], neuron: PlifParameters, dropout: float) as this =
    inherit torch.nn.Module<Tensor, Tensor>("MlpBlock")
    do
        if isNull sizes || sizes.Length < 2 then invalidArg "sizes" "needs the input size and at least one layer size"
        sizes |> Array.iteri (fun i s -> if s <= 0 then invalidArg "sizes" $"sizes[{i}] must be > 0, got {s}")
    let body =
        new SpikingSequential("body", [|
            for l in 1 .. sizes.Length - 1 do
                if l > 1 && dropout > 0.0 then yield new SharedDropout($"dropout{l}", dropout) :> torch.nn.Module<Tensor, Tensor>
                yield torch.nn.Linear (int64 sizes.[l - 1], int64 sizes.[l])
                yield new PlifLayer($"plif{l}", neuron) |])
    do this.register_module ("body", body)

    /// The layers in order.
    member _.Body = body

    /// Spikes [T; B; sizes.[last]] for input [T; B; sizes.[0]].
    override _.forward (x: Tensor) : Tensor =
        if x.dim () <> 3 || x.shape.[2] <> int64 sizes.[0] then
            invalidArg "x" $"must be [T; B; {sizes.[0]}], got shape %A{x.shape}"
        body.call x

/// The thesis ch. 3 classifier: VGG feature block → flatten → MLP (F → F/4 → classes·votes, dropout 0.5) →
/// average voting over groups of `votes` output neurons. Input [T; B; C_in; H; W] → votes [T; B; classes] (each
/// the fraction of a class's group that fired at that step, so summing over time gives a spike-count score).
type VggSnn(inChannels: int, height: int, width: int, featureLayers: int, channels: int, classes: int, votes: int,
            neuron: PlifParameters) as this =
    inherit torch.nn.Module<Tensor, Tensor>("VggSnn")
    do
        if height <= 0 then invalidArg "height" $"must be > 0, got {height}"
        if width <= 0 then invalidArg "width" $"must be > 0, got {width}"
        if classes <= 1 then invalidArg "classes" $"must be > 1, got {classes}"
        if votes <= 0 then invalidArg "votes" $"must be > 0, got {votes}"
    let features = new VggFeatureBlock(inChannels, featureLayers, channels, neuron)
    let flat = channels * features.OutputSize height * features.OutputSize width
    do if flat <= 0 then invalidArg "height" $"{height}×{width} is too small for {featureLayers} 2×2 poolings"
    let classifier = new MlpBlock([| flat; max 1 (flat / 4); classes * votes |], neuron, 0.5)
    let flatten = new TimeFlatten("flatten")
    let voting = new Voting("voting", votes)
    do
        this.register_module ("features", features)
        this.register_module ("flatten", flatten)
        this.register_module ("classifier", classifier)
        this.register_module ("voting", voting)

    /// The feature extraction block.
    member _.Features = features
    /// The classifier block.
    member _.Classifier = classifier

    /// Votes [T; B; classes] for input [T; B; C_in; H; W].
    override _.forward (x: Tensor) : Tensor =
        x |> features.call |> flatten.call |> classifier.call |> voting.call
