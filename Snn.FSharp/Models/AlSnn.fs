/// The auxiliary-learning network of thesis ch. 3 (fig. 8): one feature-extraction block feeding a main-task
/// classifier and any number of auxiliary-task classifiers. The auxiliary classifiers exist for training only:
/// evaluation (and `forward`) runs the feature block and the main classifier alone. Time-first throughout.
namespace Snn.Modules

open System
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tensors

/// A classifier block of thesis ch. 3: shared-mask dropout → Linear F→F/4 → PLIF → shared-mask dropout →
/// Linear F/4→classes·votes → PLIF → average voting over groups of `votes` neurons. Input [T; B; F] → votes
/// [T; B; classes], each the fraction of a class's group that fired at that step. Dropout sits before both Linear
/// layers, as in the PLIF networks of Fang et al. (2021) the thesis builds on. `weightGain` scales the default
/// initialisation (uniform in ±1/√fan_in) of both Linear layers: with few, sparsely firing features the default
/// currents stay below the threshold and the head starts silent (see `Init.scaledLinear`); 1 keeps the default.
type VotingClassifier(name: string, features: int, classes: int, votes: int, neuron: PlifParameters, dropout: float,
                      weightGain: float) as this =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do
        if features <= 0 then invalidArg "features" $"must be > 0, got {features}"
        if classes < 2 then invalidArg "classes" $"must be >= 2, got {classes}"
        if votes <= 0 then invalidArg "votes" $"must be > 0, got {votes}"
        if not (dropout >= 0.0 && dropout < 1.0) then invalidArg "dropout" $"must lie in [0, 1), got {dropout}"
        if not (weightGain > 0.0) || Double.IsInfinity weightGain then invalidArg "weightGain" $"must be a finite number > 0, got {weightGain}"
    let dropout1 = new SharedDropout("dropout1", dropout)
    let mlp = new MlpBlock([| features; max 1 (features / 4); classes * votes |], neuron, dropout)
    let voting = new Voting("voting", votes)
    do
        this.register_module ("dropout1", dropout1)
        this.register_module ("mlp", mlp)
        this.register_module ("voting", voting)
        if weightGain <> 1.0 then
            use _ = torch.no_grad ()
            for struct (parameterName, p) in mlp.named_parameters () do
                // Only the Linear weights and biases; the PLIF time-constant weights keep their initial τ.
                if parameterName.EndsWith ".weight" || parameterName.EndsWith ".bias" then
                    p.mul_ (weightGain.ToScalar ()) |> ignore

    /// The thesis classifier with the default initialisation.
    new(name: string, features: int, classes: int, votes: int, neuron: PlifParameters, dropout: float) =
        new VotingClassifier(name, features, classes, votes, neuron, dropout, 1.0)

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
        x |> dropout1.call |> mlp.call |> voting.call

/// The fully connected analogue of `VggFeatureBlock` for flattened inputs: per layer Linear → BatchNorm
/// (statistics over T·B) → PLIF. Input [T; B; sizes.[0]] → spikes [T; B; sizes.[last]]. The normalisation keeps the
/// PLIF layers firing on sparse event inputs, whose raw currents stay far below the threshold.
type DenseFeatureBlock(sizes: int[], neuron: PlifParameters) as this =
    inherit torch.nn.Module<Tensor, Tensor>("DenseFeatureBlock")
    do
        if isNull sizes || sizes.Length < 2 then invalidArg "sizes" "needs the input size and at least one layer size"
        sizes |> Array.iteri (fun i s -> if s <= 0 then invalidArg "sizes" $"sizes[{i}] must be > 0, got {s}")
    let body =
        new SpikingSequential("body", [|
            for l in 1 .. sizes.Length - 1 do
                yield torch.nn.Linear (int64 sizes.[l - 1], int64 sizes.[l]) :> torch.nn.Module<Tensor, Tensor>
                yield torch.nn.BatchNorm1d (int64 sizes.[l])
                yield new PlifLayer($"plif{l}", neuron) |])
    do this.register_module ("body", body)

    /// Spikes [T; B; sizes.[last]] for input [T; B; sizes.[0]].
    override _.forward (x: Tensor) : Tensor =
        if x.dim () <> 3L || x.shape.[2] <> int64 sizes.[0] then
            invalidArg "x" $"must be [T; B; {sizes.[0]}], got shape %A{x.shape}"
        body.call x

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
           votes: int, neuron: PlifParameters, dropout: float, weightGain: float) as this =
    inherit torch.nn.Module<Tensor, Tensor>("AlSnn")
    do
        if isNull (box features) then nullArg "features"
        if featureCount <= 0 then invalidArg "featureCount" $"must be > 0, got {featureCount}"
        if isNull auxiliaryClasses then nullArg "auxiliaryClasses"
        auxiliaryClasses |> Array.iteri (fun i k ->
            if k < 2 then invalidArg "auxiliaryClasses" $"auxiliary task {i} has {k} labels; it needs at least 2")
    let flatten = new TimeFlatten("flatten")
    let main = new VotingClassifier("main", featureCount, mainClasses, votes, neuron, dropout, weightGain)
    let auxiliary =
        auxiliaryClasses |> Array.mapi (fun i k -> new VotingClassifier($"aux{i + 1}", featureCount, k, votes, neuron, dropout, weightGain))
    let auxiliaryList = torch.nn.ModuleList<torch.nn.Module<Tensor, Tensor>> (auxiliary |> Array.map (fun h -> h :> torch.nn.Module<Tensor, Tensor>))
    do
        this.register_module ("features", features)
        this.register_module ("flatten", flatten)
        this.register_module ("main", main)
        this.register_module ("auxiliary", auxiliaryList)

    /// The network with the classifiers' default initialisation (weightGain = 1).
    new(features: torch.nn.Module<Tensor, Tensor>, featureCount: int, mainClasses: int, auxiliaryClasses: int[],
        votes: int, neuron: PlifParameters, dropout: float) =
        new AlSnn(features, featureCount, mainClasses, auxiliaryClasses, votes, neuron, dropout, 1.0)

    /// The thesis configuration on event frames [T; B; C_in; H; W]: a VGG feature block (`layers` × conv 3×3 with
    /// `channels` filters → BN → PLIF → max-pool 2×2), 10 votes per class, dropout 0.5.
    static member Vgg (inChannels: int, height: int, width: int, layers: int, channels: int, mainClasses: int,
                       auxiliaryClasses: int[], neuron: PlifParameters) : AlSnn =
        let block = new VggFeatureBlock(inChannels, layers, channels, neuron)
        let count = channels * block.OutputSize height * block.OutputSize width
        if count <= 0 then invalidArg "height" $"{height}×{width} is too small for {layers} 2×2 poolings"
        new AlSnn(block, count, mainClasses, auxiliaryClasses, 10, neuron, 0.5)

    /// A fully connected variant for flattened inputs [T; B; inputs]: the feature block is a `DenseFeatureBlock`
    /// with layer sizes `hidden`, 10 votes per class, dropout 0.5 in the classifiers, whose initialisation is scaled
    /// by `weightGain` (see `VotingClassifier`).
    static member Mlp (inputs: int, hidden: int[], mainClasses: int, auxiliaryClasses: int[], neuron: PlifParameters,
                       weightGain: float) : AlSnn =
        if isNull hidden || hidden.Length = 0 then invalidArg "hidden" "needs at least one feature layer size"
        let block = new DenseFeatureBlock(Array.append [| inputs |] hidden, neuron)
        new AlSnn(block, Array.last hidden, mainClasses, auxiliaryClasses, 10, neuron, 0.5, weightGain)

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

    /// Sets the kernel of every neuron layer: `Fused` for speed, `Reference` (the default) where double backward
    /// through the spikes is needed (the implicit-differentiation hypergradient).
    member this.SetKernel (kernel: Kernel) =
        for m in this.modules () do
            match m with
            | :? NeuronLayer as n -> n.Kernel <- kernel
            | _ -> ()

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
