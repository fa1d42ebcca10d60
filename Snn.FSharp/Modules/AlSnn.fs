/// The auxiliary-learning network of thesis ch. 3 (fig. 8): one feature-extraction block feeding a main-task
/// classifier and any number of auxiliary-task classifiers. The auxiliary classifiers exist for training only:
/// evaluation (and `forward`) runs the feature block and the main classifier alone. Time-first throughout.
namespace Snn.Modules

open System
open TorchSharp
open Snn.Neurons
open Snn.Tensors

/// A classifier block of thesis ch. 3: shared-mask dropout → Linear F→F/4 → PLIF → shared-mask dropout →
/// Linear F/4→classes·votes → PLIF → average voting over groups of `votes` neurons. Input [T; B; F] → votes
/// [T; B; classes], each the fraction of a class's group that fired at that step. Dropout sits before both Linear
/// layers, as in the PLIF networks of Fang et al. (2021) the thesis builds on.
type VotingClassifier(name: string, features: int, classes: int, votes: int, neuron: PlifParameters, dropout: float) as this =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do
        if features <= 0 then invalidArg "features" $"must be > 0, got {features}"
        if classes < 2 then invalidArg "classes" $"must be >= 2, got {classes}"
        if votes <= 0 then invalidArg "votes" $"must be > 0, got {votes}"
        if not (dropout >= 0.0 && dropout < 1.0) then invalidArg "dropout" $"must lie in [0, 1), got {dropout}"
    let inputDropout = new SharedDropout("dropout1", dropout)
    let mlp = new MlpBlock([| features; max 1 (features / 4); classes * votes |], neuron, dropout)
    let voting = new Voting("voting", votes)
    do
        this.register_module ("dropout1", inputDropout)
        this.register_module ("mlp", mlp)
        this.register_module ("voting", voting)

    /// Input features F per time step.
    member _.Features = features
    /// Output classes.
    member _.Classes = classes
    /// Output neurons per class.
    member _.Votes = votes

    /// Votes [T; B; classes] for features [T; B; F].
    override _.forward (x: Tensor) : Tensor =
        if x.dim () <> 3L || x.shape.[2] <> int64 features then
            invalidArg "x" $"classifier '{name}' needs features [T; B; {features}], got shape %A{x.shape}"
        x |> inputDropout.call |> mlp.call |> voting.call

/// The outputs of one run of an `AlSnn`.
type AlSnnOutput =
    { /// Votes of the main classifier, [T; B; main classes].
      Main: Tensor
      /// Votes of every auxiliary classifier, [T; B; K_i] each, in task order; empty in evaluation mode.
      Auxiliary: Tensor[] }

/// Auxiliary learning SNN (thesis fig. 8). `features` maps the input [T; B; ...] to spikes [T; B; ...] whose
/// non-time dimensions flatten to `featureCount`; the main classifier and one classifier per entry of
/// `auxiliaryClasses` (its number of labels) read those features. Classifiers: see `VotingClassifier`.
/// Mode switch: in training mode (`train()`) `Run` evaluates every head; in evaluation mode (`eval()`) it evaluates
/// the main path only, so the auxiliary heads neither affect the output nor receive gradients. `forward` is always
/// the main path ([T; B; main classes] votes), so `Training.evaluate` measures the main task.
type AlSnn(features: torch.nn.Module<Tensor, Tensor>, featureCount: int, mainClasses: int, auxiliaryClasses: int[],
           votes: int, neuron: PlifParameters, dropout: float) as this =
    inherit torch.nn.Module<Tensor, Tensor>("AlSnn")
    do
        if isNull (box features) then nullArg "features"
        if featureCount <= 0 then invalidArg "featureCount" $"must be > 0, got {featureCount}"
        if isNull auxiliaryClasses then nullArg "auxiliaryClasses"
        auxiliaryClasses |> Array.iteri (fun i k ->
            if k < 2 then invalidArg "auxiliaryClasses" $"auxiliary task {i} has {k} labels; it needs at least 2")
    let flatten = new TimeFlatten("flatten")
    let main = new VotingClassifier("main", featureCount, mainClasses, votes, neuron, dropout)
    let auxiliary =
        auxiliaryClasses |> Array.mapi (fun i k -> new VotingClassifier($"aux{i + 1}", featureCount, k, votes, neuron, dropout))
    let auxiliaryList = torch.nn.ModuleList<torch.nn.Module<Tensor, Tensor>> (auxiliary |> Array.map (fun h -> h :> torch.nn.Module<Tensor, Tensor>))
    do
        this.register_module ("features", features)
        this.register_module ("flatten", flatten)
        this.register_module ("main", main)
        this.register_module ("auxiliary", auxiliaryList)

    /// The thesis configuration on event frames [T; B; C_in; H; W]: a VGG feature block (`layers` × conv 3×3 with
    /// `channels` filters → BN → PLIF → max-pool 2×2), 10 votes per class, dropout 0.5.
    static member Vgg (inChannels: int, height: int, width: int, layers: int, channels: int, mainClasses: int,
                       auxiliaryClasses: int[], neuron: PlifParameters) : AlSnn =
        let block = new VggFeatureBlock(inChannels, layers, channels, neuron)
        let count = channels * block.OutputSize height * block.OutputSize width
        if count <= 0 then invalidArg "height" $"{height}×{width} is too small for {layers} 2×2 poolings"
        new AlSnn(block, count, mainClasses, auxiliaryClasses, 10, neuron, 0.5)

    /// A fully connected variant for flattened inputs [T; B; sizes.[0]]: the feature block is an MLP of PLIF layers
    /// (`hidden` sizes, no dropout inside it), 10 votes per class, dropout 0.5 in the classifiers.
    static member Mlp (inputs: int, hidden: int[], mainClasses: int, auxiliaryClasses: int[], neuron: PlifParameters) : AlSnn =
        if isNull hidden || hidden.Length = 0 then invalidArg "hidden" "needs at least one feature layer size"
        let block = new MlpBlock(Array.append [| inputs |] hidden, neuron, 0.0)
        new AlSnn(block, Array.last hidden, mainClasses, auxiliaryClasses, 10, neuron, 0.5)

    /// The feature-extraction block.
    member _.FeatureBlock = features
    /// The main-task classifier.
    member _.MainClassifier = main
    /// The auxiliary classifiers, in task order.
    member _.AuxiliaryClassifiers : VotingClassifier[] = auxiliary
    /// Number of main-task classes.
    member _.MainClasses = mainClasses
    /// Number of labels of every auxiliary task.
    member _.AuxiliaryClasses = Array.copy auxiliaryClasses

    /// Parameters of the main path (feature block and main classifier): what evaluation and deployment need.
    member _.MainPathParameters () : TorchSharp.Modules.Parameter[] =
        Array.append (features.parameters () |> Array.ofSeq) (main.parameters () |> Array.ofSeq)

    /// Parameters of the auxiliary classifiers only.
    member _.AuxiliaryParameters () : TorchSharp.Modules.Parameter[] =
        auxiliary |> Array.collect (fun h -> h.parameters () |> Array.ofSeq)

    /// Flattened features [T; B; featureCount] of input [T; B; ...].
    member _.Features (x: Tensor) : Tensor =
        let f = flatten.call (features.call x)
        if f.shape.[2] <> int64 featureCount then
            invalidArg "features" $"the feature block gives {f.shape.[2]} features per step, the classifiers expect {featureCount}"
        f

    /// Training mode: main and auxiliary votes; evaluation mode: main votes and no auxiliary output.
    member this.Run (x: Tensor) : AlSnnOutput =
        let f = this.Features x
        { Main = main.call f
          Auxiliary = if this.training then auxiliary |> Array.map (fun h -> h.call f) else [||] }

    /// Main votes [T; B; main classes] for input [T; B; ...]: the main path only, in either mode.
    override this.forward (x: Tensor) : Tensor = main.call (this.Features x)
