/// Inference with a trained spiking classifier on samples as datasets store them, [N; T; ...] (sample first): the
/// samples are batched to the network's time-first [T; B; ...] here, run in evaluation mode without gradients,
/// and the output spikes [T; B; C] are read out as spike counts n_bc = Σ_t z_tbc, classes argmax_c n_bc (ties to
/// the lowest index) and probabilities softmax(n_b) (the distribution cross-entropy on counts trains).
[<RequireQualifiedAccess>]
module Snn.Inference

open TorchSharp
open Snn.Tensors

/// What a classifier says about each sample.
[<NoEquality; NoComparison>]
type Predictions =
    { /// The predicted class of each sample [N] (most output spikes, ties to the lowest index).
      Classes: int64[]
      /// Output spike counts [N; C] (float32, detached).
      SpikeCounts: Tensor
      /// softmax over classes of the spike counts [N; C].
      Probabilities: Tensor }

/// A classifier judged on a labelled split.
type Evaluation =
    { /// Fraction of samples whose predicted class is the label.
      Accuracy: float
      /// Confusion matrix [C; C]: row = true class, column = predicted class.
      Confusion: int[,]
      /// Per-class precision, recall and F1 with their macro means.
      Report: Metrics.ClassificationReport
      /// The predicted class of each sample.
      Predictions: int64[] }

let private checkSamples (samples: Tensor) =
    if isNull (box samples) then nullArg "samples"
    if samples.dim () < 3 then invalidArg "samples" $"must be [N; T; ...] (sample first, then time), got shape %A{samples.shape}"
    if samples.shape.[0] = 0L then invalidArg "samples" "holds no sample"

/// Output spike counts [N; C] of `model` (output spikes [T; B; C]) for samples [N; T; ...], run in batches of
/// `batchSize` in evaluation mode under no_grad.
let spikeCounts (model: torch.nn.Module<Tensor, Tensor>) (batchSize: int) (samples: Tensor) : Tensor =
    if isNull (box model) then nullArg "model"
    checkSamples samples
    if batchSize <= 0 then invalidArg "batchSize" $"must be > 0, got {batchSize}"
    model.eval ()
    use _ = torch.no_grad ()
    let n = samples.shape.[0]
    // Batches go to the model's device; the samples may stay in host memory.
    let device = deviceOf model
    let parts =
        [| for start in 0L .. int64 batchSize .. n - 1L do
             Allocator.beforeStep ()
             use scope = torch.NewDisposeScope ()
             let spikes = model.call (onDevice device (Data.Dataset.batchOf samples [| start .. min n (start + int64 batchSize) - 1L |]))
             if spikes.dim () <> 3 then invalidArg "model" $"must output spikes [T; B; C], gave shape %A{spikes.shape}"
             // Sum in float32: spikes of another dtype (bool, uint8) would hit TorchSharp's integer sum overloads.
             yield (Loss.spikeCounts (spikes.``to`` torch.float32)).MoveToOuterDisposeScope () |]
    let counts = torch.cat (parts, 0L)
    for p in parts do p.Dispose ()
    counts

/// Classes, spike counts and probabilities of `model` for samples [N; T; ...] (see `spikeCounts`).
let predict (model: torch.nn.Module<Tensor, Tensor>) (batchSize: int) (samples: Tensor) : Predictions =
    // Only the two returned tensors outlive the scope.
    use _ = torch.NewDisposeScope ()
    let counts = spikeCounts model batchSize samples
    let classes = toInt64Array (Metrics.predictions counts)
    let probabilities = torch.nn.functional.softmax (counts, 1L)
    { Classes = classes; SpikeCounts = counts.MoveToOuterDisposeScope (); Probabilities = probabilities.MoveToOuterDisposeScope () }

/// Accuracy, confusion matrix and per-class report of `model` on samples [N; T; ...] with class labels [N].
let evaluate (model: torch.nn.Module<Tensor, Tensor>) (batchSize: int) (samples: Tensor) (labels: Tensor) : Evaluation =
    checkSamples samples
    if isNull (box labels) then nullArg "labels"
    if labels.dim () <> 1 || labels.shape.[0] <> samples.shape.[0] then
        invalidArg "labels" $"must hold one class index per sample ([{samples.shape.[0]}]), got shape %A{labels.shape}"
    // Nothing tensor-valued leaves: every tensor made here is freed with the scope.
    use _ = torch.NewDisposeScope ()
    let counts = spikeCounts model batchSize samples
    let predicted = toInt64Array (Metrics.predictions counts)
    let truth = toInt64Array labels
    let confusion = Metrics.confusionMatrix (int counts.shape.[1]) predicted truth
    let report = Metrics.classificationReport confusion
    { Accuracy = report.Accuracy; Confusion = confusion; Report = report; Predictions = predicted }
