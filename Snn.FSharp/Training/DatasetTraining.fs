/// Training from the `Snn.Data.Dataset` API: samples are loaded (and, with `FrameCache`, cached) one batch at a
/// time by a loader, padded into time-first batches [T; B; ...] and prefetched on a background task while the model
/// trains on the previous batch, so the whole set never has to sit in memory.
[<RequireQualifiedAccess>]
module Snn.DatasetTraining

open System
open TorchSharp
open Snn.Data
open Snn.Tensors

let private check (name: string) (split: LabelledSplit) =
    if isNull (box split.Load) then nullArg $"{name}.Load"
    if split.Count <= 0 then invalidArg name $"must hold at least one sample, got Count = {split.Count}"

let private pairs (prefetchDepth: int) (batches: seq<Batch>) : seq<Tensor * Tensor> =
    let source = if prefetchDepth > 0 then Dataset.prefetch prefetchDepth batches else batches
    source |> Seq.map (fun b -> b.Mask.Dispose (); b.Inputs, b.Labels)

/// Accuracy in [0, 1] of `model` (output [T; B; C], prediction = largest sum over time) on a split, in batches
/// of `batchSize` in index order; samples shorter than the longest of their batch are zero-padded at the end.
let evaluate (model: torch.nn.Module<Tensor, Tensor>) (batchSize: int) (split: LabelledSplit) : float =
    check "split" split
    if batchSize <= 0 then invalidArg "batchSize" $"must be > 0, got {batchSize}"
    model.eval ()
    use _ = torch.no_grad ()
    let mutable hits = 0
    for inputs, labels in Dataset.batches batchSize split.Load (Array.init split.Count id) |> pairs 0 do
        use scope = torch.NewDisposeScope ()
        use inputs = inputs
        use labels = labels
        hits <- hits + Metrics.correct (Loss.spikeCounts (model.forward inputs)) labels
    float hits / float split.Count

/// The `Trainer.BatchSource` of a split: epoch e visits the samples in `Trainer.epochOrder` (the order
/// `Trainer.train` uses for tensors, so both give the same run on the same data), loading `BatchSize` samples per
/// batch with `prefetchDepth` batches prepared ahead (0 = load on demand).
let source (settings: Training.TrainerSettings) (prefetchDepth: int) (train: LabelledSplit) : Trainer.BatchSource =
    check "train" train
    if settings.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {settings.BatchSize}"
    if prefetchDepth < 0 then invalidArg "prefetchDepth" $"must be >= 0, got {prefetchDepth}"
    { Samples = train.Count
      BatchesPerEpoch = (train.Count + settings.BatchSize - 1) / settings.BatchSize
      Epoch = fun epoch ->
        let order = Trainer.epochOrder settings.Seed epoch train.Count |> Array.map int
        Dataset.batches settings.BatchSize train.Load order |> pairs prefetchDepth }

/// The classifier method of `Trainer.run` over two dataset splits (see `source`), scoring the test split with
/// `evaluate` after every epoch, with progress reports per batch and per epoch; calibrated and watched as
/// `Trainer.trainWithProgress` does.
let train (model: torch.nn.Module<Tensor, Tensor>) (settings: Training.TrainerSettings) (prefetchDepth: int)
          (trainSplit: LabelledSplit) (testSplit: LabelledSplit)
          (onBatch: Training.BatchProgress -> unit) (onEpoch: Training.HistoryEntry -> unit)
          (cancellation: Threading.CancellationToken) : Training.History =
    check "test" testSplit
    check "train" trainSplit
    let method = Trainer.classifier model settings (fun () -> evaluate model settings.BatchSize testSplit)
    // The first training samples in index order, zero-padded to the longest of them.
    let first count =
        let batch = Dataset.batches count trainSplit.Load (Array.init (min count trainSplit.Count) id) |> Seq.head
        batch.Mask.Dispose ()
        batch.Labels.Dispose ()
        batch.Inputs
    (use probe = first Trainer.calibrationSamples in Trainer.calibrate model settings probe)
    use watched = first Trainer.watchedSamples
    let watch = Trainer.watch model settings watched
    Trainer.run model settings method (source settings prefetchDepth trainSplit) onBatch (fun e -> onEpoch e; watch e) cancellation
