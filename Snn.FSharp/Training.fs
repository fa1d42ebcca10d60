/// Training and evaluation of spiking classifiers by surrogate-gradient backpropagation through time (BPTT).
[<RequireQualifiedAccess>]
module Snn.Training

open System
open System.Diagnostics
open TorchSharp
open Snn.Tensors

/// Settings of a training run.
type Settings =
    { /// Passes over the training set.
      Epochs: int
      /// Samples per optimisation step.
      BatchSize: int
      /// Adam learning rate.
      LearningRate: float
      /// Seed of weight initialisation and shuffling.
      Seed: int }

    /// 10 epochs, batches of 64, learning rate 1e-3, seed 0.
    static member Default = { Epochs = 10; BatchSize = 64; LearningRate = 1e-3; Seed = 0 }

/// What happened in one epoch.
type EpochReport =
    { /// Epoch number, from 1.
      Epoch: int
      /// Mean training loss over the epoch's batches.
      TrainLoss: float
      /// Training accuracy in [0, 1], measured on the batches while training.
      TrainAccuracy: float
      /// Test accuracy in [0, 1] after the epoch.
      TestAccuracy: float
      /// Wall-clock seconds since training started.
      ElapsedSeconds: float }

/// Progress inside an epoch: (epoch, batches done, batches in the epoch, running mean loss).
type BatchProgress = int * int * int * float

let private validate (settings: Settings) =
    if settings.Epochs <= 0 then invalidArg "Epochs" $"must be > 0, got {settings.Epochs}"
    if settings.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {settings.BatchSize}"
    if not (settings.LearningRate > 0.0) then invalidArg "LearningRate" $"must be > 0, got {settings.LearningRate}"

/// Time-first batch: samples [N; T; ...] at `indices` → [T; B; ...].
let private batchOf (samples: Tensor) (indices: int64[]) : Tensor =
    use index = torch.tensor indices
    samples.index_select(0L, index).transpose (0L, 1L)

/// Accuracy of `model` (output spikes [T; B; C], prediction = most spikes) on samples [N; T; ...] with labels [N].
let evaluate (model: torch.nn.Module<Tensor, Tensor>) (batchSize: int) (samples: Tensor) (labels: Tensor) : float =
    if batchSize <= 0 then invalidArg "batchSize" $"must be > 0, got {batchSize}"
    let n = samples.shape.[0]
    if n <> labels.shape.[0] then invalidArg "labels" $"has {labels.shape.[0]} entries for {n} samples"
    model.eval ()
    use _ = torch.no_grad ()
    let mutable hits = 0
    for start in 0L .. int64 batchSize .. n - 1L do
        use scope = torch.NewDisposeScope ()
        let indices = [| start .. min n (start + int64 batchSize) - 1L |]
        let spikes = model.forward (batchOf samples indices)
        hits <- hits + Metrics.correct (Loss.spikeCounts spikes) (labels.index_select (0L, torch.tensor indices))
    float hits / float n

/// Trains `model` with Adam on the cross-entropy of output spike counts (output spikes [T; B; C]), shuffling
/// the training samples [N; T; ...] by seed each epoch; reports each epoch and, via `onBatch`, each batch.
/// `cancellation` is checked before every batch (OperationCanceledException; the model keeps the last step).
let fitCancellable (model: torch.nn.Module<Tensor, Tensor>) (settings: Settings)
                   (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
                   (onBatch: BatchProgress -> unit) (onEpoch: EpochReport -> unit)
                   (cancellation: Threading.CancellationToken) : EpochReport list =
    validate settings
    let n = trainSamples.shape.[0]
    if n <> trainLabels.shape.[0] then invalidArg "trainLabels" $"has {trainLabels.shape.[0]} entries for {n} samples"
    let optimizer = torch.optim.Adam (model.parameters (), settings.LearningRate)
    let rng = Random(settings.Seed)
    let clock = Stopwatch.StartNew ()
    let batches = int ((n + int64 settings.BatchSize - 1L) / int64 settings.BatchSize)
    [ for epoch in 1 .. settings.Epochs do
        model.train ()
        let order = Array.init (int n) int64
        rng.Shuffle order
        let mutable lossSum = 0.0
        let mutable hits = 0
        for b in 0 .. batches - 1 do
            cancellation.ThrowIfCancellationRequested ()
            use scope = torch.NewDisposeScope ()
            let indices = order.[b * settings.BatchSize .. min (int n) ((b + 1) * settings.BatchSize) - 1]
            let labels = trainLabels.index_select (0L, torch.tensor indices)
            optimizer.zero_grad ()
            let spikes = model.forward (batchOf trainSamples indices)
            let loss = Loss.crossEntropyOnCounts spikes labels
            Diff.backward loss
            optimizer.step () |> ignore
            lossSum <- lossSum + loss.ToDouble ()
            hits <- hits + Metrics.correct (Loss.spikeCounts (spikes.detach ())) labels
            onBatch (epoch, b + 1, batches, lossSum / float (b + 1))
        let report =
            { Epoch = epoch
              TrainLoss = lossSum / float batches
              TrainAccuracy = float hits / float n
              TestAccuracy = evaluate model settings.BatchSize testSamples testLabels
              ElapsedSeconds = clock.Elapsed.TotalSeconds }
        onEpoch report
        yield report ]

/// `fitCancellable` without cancellation.
let fit (model: torch.nn.Module<Tensor, Tensor>) (settings: Settings)
        (train: Tensor * Tensor) (test: Tensor * Tensor)
        (onBatch: BatchProgress -> unit) (onEpoch: EpochReport -> unit) : EpochReport list =
    fitCancellable model settings train test onBatch onEpoch Threading.CancellationToken.None
