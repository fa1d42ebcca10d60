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

/// AuxiLearn as a method of the one trainer: the batch loss is `combinerOf combiner` of the per-sample losses, and
/// the hyper step learns the combiner's parameters φ by the implicit hypergradient of the main loss alone (L_V; the
/// auxiliary heads run but do not enter it) on the next batch of the auxiliary split `auxIndices` of samples
/// [N; T; ...], labels [N]. The weights train on the other samples; the test split is scored after every epoch.
let method (model: AlSnn) (combiner: LossCombiner) (training: AuxiliaryLearning.Settings) (settings: Settings) (batchSize: int)
           (samples: Tensor, labels: Tensor) (auxIndices: int64[]) (test: Tensor * Tensor) : Trainer.Method =
    let training = { training with Combine = combinerOf combiner }
    let outerLoss (batch: Trainer.Batch) =
        let auxBatch = Trainer.heldOutBatch auxIndices batchSize batch.Step
        let auxInput = Data.Dataset.batchOf samples auxBatch
        let auxLabels = (use index = torch.tensor auxBatch in labels.index_select (0L, index))
        let main, _, _ = AuxiliaryLearning.perSampleLosses model training.Tasks training.Loss auxInput auxLabels
        main.mean ()
    { AuxiliaryLearning.method model training batchSize test with
        Hyper =
            Some { Hyperparameters = Array.ofSeq (combiner.parameters ())
                   Weights = model.parameters () |> Seq.map (fun p -> p :> Tensor) |> Array.ofSeq
                   Settings = settings.Bilevel
                   OuterLoss = outerLoss
                   AfterHyperStep = ignore } }

/// Trains `model` by the one trainer (`training` gives epochs, batch size, optimiser, seed, ...; `auxiliary` the
/// tasks and per-sample loss, whose `Combine` is replaced by `combinerOf combiner`) with `combiner`'s parameters
/// learned by hypergradient. Samples are [N; T; ...] with labels [N]; the last `AuxiliaryFraction` of a seeded
/// permutation of them forms the auxiliary split. The history's `HyperSteps` hold every outer loss and
/// hypergradient norm; the test split's main-task accuracy is measured after every epoch.
let train (model: AlSnn) (combiner: LossCombiner) (training: Training.TrainerSettings) (auxiliary: AuxiliaryLearning.Settings)
          (settings: Settings) (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
          (onEpoch: Training.HistoryEntry -> unit) (cancellation: Threading.CancellationToken) : Training.History =
    if isNull (box model) then nullArg "model"
    if isNull (box combiner) then nullArg "combiner"
    if combiner.Tasks <> auxiliary.Tasks.Length then
        invalidArg "combiner" $"combines {combiner.Tasks} auxiliary losses, but {auxiliary.Tasks.Length} tasks are given"
    if training.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {training.BatchSize}"
    let n = int trainSamples.shape.[0]
    if int64 n <> trainLabels.shape.[0] then invalidArg "trainLabels" $"has {trainLabels.shape.[0]} entries for {n} samples"
    let trainIndices, auxIndices = Bilevel.holdOut "AuxiliaryFraction" settings.AuxiliaryFraction n training.Seed
    // Double backward through the surrogate spikes needs the reference kernel.
    model.SetKernel Reference
    let take (t: Tensor) = (use index = torch.tensor trainIndices in t.index_select (0L, index))
    let source = Trainer.tensorSource training.BatchSize training.Seed (take trainSamples, take trainLabels)
    let method = method model combiner auxiliary settings training.BatchSize (trainSamples, trainLabels) auxIndices (testSamples, testLabels)
    Trainer.run model training method source ignore onEpoch cancellation

/// `train` without cancellation.
let fit (model: AlSnn) (combiner: LossCombiner) (training: Training.TrainerSettings) (auxiliary: AuxiliaryLearning.Settings)
        (settings: Settings) (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
        (onEpoch: Training.HistoryEntry -> unit) : Training.History =
    train model combiner training auxiliary settings (trainSamples, trainLabels) (testSamples, testLabels) onEpoch Threading.CancellationToken.None
