/// Auxiliary learning with a learned loss combination (thesis § 3.4.3, AuxiLearn): the AL-SNN's weights W minimise
/// L_T(W, φ) = mean_b l_M,b + h_φ(l_A) on the training split, where h_φ is a `LossCombiner` over the per-sample
/// auxiliary losses; every `Bilevel.Settings.Interval` steps φ takes one step along the implicit hypergradient of the
/// main loss on an auxiliary split, held out from the training data (the weights never train on it).
///
/// Hyper steps differentiate twice through the network, so the run uses the reference (per-step) neuron kernel.
/// Tensors are time-first: inputs [T; B; ...].
[<RequireQualifiedAccess>]
module Snn.AuxiLearn

open System
open System.Diagnostics
open TorchSharp
open Snn.Modules
open Snn.Tensors

/// Settings of the hyperparameter level.
type Settings =
    { /// Inverse-Hessian approximation, hyper-step interval and hyper learning rate.
      Bilevel: Bilevel.Settings
      /// Fraction of the training samples held out as the auxiliary split (0 < f < 1).
      AuxiliaryFraction: float }

    /// 3-term Neumann series (α = 0.1), a hyper step every 10 weight steps at learning rate 1e-2, 15 % held out.
    static member Default =
        { Bilevel = { Bilevel.Settings.Default with Interval = 10; HyperLearningRate = 1e-2 }; AuxiliaryFraction = 0.15 }

/// The training loss of a learned combination: L_T = mean_b l_M,b + h_φ(l_A) (eq. 3.2 with h learned).
let combinerOf (h: LossCombiner) : AuxiliaryLearning.Combiner =
    if isNull (box h) then nullArg "h"
    fun (mainPerSample: Tensor) (auxPerSample: Tensor) -> mainPerSample.mean () + h.forward auxPerSample

/// What a run did beyond the per-epoch reports.
type Outcome =
    { /// One report per epoch (test accuracy in evaluation mode: main path only).
      Epochs: AuxiliaryLearning.EpochReport list
      /// Outer (auxiliary-split) loss of every hyper step, in order.
      OuterLosses: float list
      /// Hypergradient norm of every hyper step, in order.
      HypergradientNorms: float list }

/// Trains `model` as `training` says (epochs, batch size, learning rate, seed, tasks, per-sample loss; its `Combine`
/// is replaced by `combinerOf combiner`) with `combiner`'s parameters learned by hypergradient. Samples are
/// [N; T; ...] with labels [N]; the last `AuxiliaryFraction` of a seeded permutation of them forms the auxiliary
/// split. Evaluates the main path on the test set after every epoch and calls `onEpoch`.
let fit (model: AlSnn) (combiner: LossCombiner) (training: AuxiliaryLearning.Settings) (settings: Settings)
        (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
        (onEpoch: AuxiliaryLearning.EpochReport -> unit) : Outcome =
    if isNull (box model) then nullArg "model"
    if isNull (box combiner) then nullArg "combiner"
    if combiner.Tasks <> training.Tasks.Length then
        invalidArg "combiner" $"combines {combiner.Tasks} auxiliary losses, but {training.Tasks.Length} tasks are given"
    if training.Epochs <= 0 then invalidArg "Epochs" $"must be > 0, got {training.Epochs}"
    if training.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {training.BatchSize}"
    let n = int trainSamples.shape.[0]
    if int64 n <> trainLabels.shape.[0] then invalidArg "trainLabels" $"has {trainLabels.shape.[0]} entries for {n} samples"
    let trainIndices, auxIndices = Bilevel.holdOut "AuxiliaryFraction" settings.AuxiliaryFraction n training.Seed
    model.SetKernel Reference
    let weights = model.parameters () |> Seq.map (fun p -> p :> Tensor) |> Array.ofSeq
    let optimizer = torch.optim.Adam (model.parameters (), training.LearningRate)
    let trainer = Bilevel.Trainer (weights, Array.ofSeq (combiner.parameters ()), optimizer, settings.Bilevel)
    let combine = combinerOf combiner
    let clock = Stopwatch.StartNew ()
    let batchSize = training.BatchSize
    let batches = (trainIndices.Length + batchSize - 1) / batchSize
    let outer = Collections.Generic.List<float> ()
    let norms = Collections.Generic.List<float> ()
    let mutable auxCursor = 0
    let nextAuxBatch () =
        let take = min batchSize auxIndices.Length
        let chosen = Array.init take (fun i -> auxIndices.[(auxCursor + i) % auxIndices.Length])
        auxCursor <- (auxCursor + take) % auxIndices.Length
        chosen
    let epochs =
        [ for epoch in 1 .. training.Epochs do
            let order = Array.copy trainIndices
            Random(training.Seed + epoch).Shuffle order
            let mutable lossSum, mainSum, hits = 0.0, 0.0, 0
            let auxSums = Array.zeroCreate<float> training.Tasks.Length
            for b in 0 .. batches - 1 do
                use scope = torch.NewDisposeScope ()
                let indices = order.[b * batchSize .. min order.Length ((b + 1) * batchSize) - 1]
                let input = Training.batchOf trainSamples indices
                let labels = (use index = torch.tensor indices in trainLabels.index_select (0L, index))
                let auxBatch = nextAuxBatch ()
                let auxInput = Training.batchOf trainSamples auxBatch
                let auxLabels = (use index = torch.tensor auxBatch in trainLabels.index_select (0L, index))
                let mutable last = None
                let trainLoss () =
                    model.train ()
                    let main, aux, output = AuxiliaryLearning.perSampleLosses model training.Tasks training.Loss input labels
                    // Statistics from the weight step's evaluation (not a hyper step's re-evaluation), read now: the
                    // trainer disposes the step's tensors.
                    if last.IsNone then
                        use _ = torch.no_grad ()
                        let auxMeans = Array.init (int aux.shape.[1]) (fun i -> aux.select(1L, int64 i).mean().ToDouble ())
                        last <- Some (main.mean().ToDouble (), auxMeans, Metrics.correct (Loss.spikeCounts (output.Main.detach ())) labels)
                    combine main aux
                let outerLoss () =
                    model.train ()
                    // L_V: the main loss alone (the auxiliary heads run but do not enter it).
                    let main, _, _ = AuxiliaryLearning.perSampleLosses model training.Tasks training.Loss auxInput auxLabels
                    main.mean ()
                let report = trainer.Step (trainLoss, outerLoss)
                report.OuterLoss |> Option.iter outer.Add
                report.HypergradientNorm |> Option.iter norms.Add
                lossSum <- lossSum + report.TrainLoss
                match last with
                | Some (mainMean, auxMeans, correct) ->
                    mainSum <- mainSum + mainMean
                    auxMeans |> Array.iteri (fun i v -> auxSums.[i] <- auxSums.[i] + v)
                    hits <- hits + correct
                | None -> ()
            let report : AuxiliaryLearning.EpochReport =
                { Epoch = epoch
                  TrainLoss = lossSum / float batches
                  MainLoss = mainSum / float batches
                  AuxiliaryLosses = auxSums |> Array.map (fun s -> s / float batches)
                  TrainAccuracy = float hits / float trainIndices.Length
                  TestAccuracy = Training.evaluate model batchSize testSamples testLabels
                  ElapsedSeconds = clock.Elapsed.TotalSeconds }
            onEpoch report
            yield report ]
    { Epochs = epochs; OuterLosses = List.ofSeq outer; HypergradientNorms = List.ofSeq norms }
