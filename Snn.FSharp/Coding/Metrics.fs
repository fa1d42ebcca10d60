/// Metrics for judging spiking classifiers: accuracy, confusion matrix, per-class precision / recall / F1 with macro
/// averages, one-vs-rest ROC AUC, first-spike decoding (003 seed), spike counts, synaptic operations (SynOps) and the
/// multiply-accumulates (MACs) of the equivalent ANN (thesis table 14).
///
/// Scores are [B; C] (B samples, C classes); spikes are time-first [T; B; ...]; labels are [B] class indices.
[<RequireQualifiedAccess>]
module Snn.Metrics

open System
open TorchSharp
open Snn.Tensors

/// The predicted class of each sample: argmax over classes of scores [B; C] (ties go to the lowest index).
let predictions (scores: Tensor) : Tensor = scores.argmax (1L)

/// The number of samples whose predicted class (argmax of scores [B; C]) equals the label [B].
let correct (scores: Tensor) (labels: Tensor) : int =
    use hits = (predictions scores).eq(labels).sum ()
    int (hits.ToInt64 ())

/// Accuracy in [0, 1]: the fraction of samples whose argmax of scores [B; C] equals the label [B].
let accuracy (scores: Tensor) (labels: Tensor) : float =
    if scores.shape.[0] = 0L then invalidArg "scores" "is empty"
    float (correct scores labels) / float scores.shape.[0]

/// The confusion matrix M [C; C] of class indices: M.[i, j] counts the samples of true class i predicted as j.
let confusionMatrix (classes: int) (predicted: int64[]) (labels: int64[]) : int[,] =
    if classes <= 0 then invalidArg "classes" $"must be > 0, got {classes}"
    if isNull predicted then nullArg "predicted"
    if isNull labels then nullArg "labels"
    if predicted.Length <> labels.Length then invalidArg "predicted" $"has {predicted.Length} entries for {labels.Length} labels"
    let check name (v: int64) = if v < 0L || v >= int64 classes then invalidArg name $"holds class {v}, outside [0, {classes})"
    let m = Array2D.zeroCreate classes classes
    Array.iter2 (fun (p: int64) (y: int64) ->
        check "predicted" p
        check "labels" y
        m.[int y, int p] <- m.[int y, int p] + 1) predicted labels
    m

/// Precision, recall and F1 per class with their unweighted (macro) means.
type ClassificationReport =
    { /// P_c = M_cc / Σ_i M_ic (0 when the class is never predicted).
      Precision: float[]
      /// R_c = M_cc / Σ_j M_cj (0 when the class never occurs).
      Recall: float[]
      /// F1_c = 2 P_c R_c / (P_c + R_c) (0 when both are 0).
      F1: float[]
      /// Samples of each true class, Σ_j M_cj.
      Support: int[]
      /// (1/C) Σ_c P_c.
      MacroPrecision: float
      /// (1/C) Σ_c R_c.
      MacroRecall: float
      /// (1/C) Σ_c F1_c.
      MacroF1: float
      /// Σ_c M_cc / Σ_ij M_ij.
      Accuracy: float }

/// Per-class precision, recall and F1 (and macro averages) from a confusion matrix [C; C] (rows = true class).
let classificationReport (confusion: int[,]) : ClassificationReport =
    if isNull confusion then nullArg "confusion"
    let c = Array2D.length1 confusion
    if c = 0 || Array2D.length2 confusion <> c then invalidArg "confusion" "must be a non-empty square matrix"
    let ratio a b = if b = 0 then 0.0 else float a / float b
    let predictedAs j = Seq.sum (seq { for i in 0 .. c - 1 -> confusion.[i, j] })
    let support = Array.init c (fun i -> Seq.sum (seq { for j in 0 .. c - 1 -> confusion.[i, j] }))
    let precision = Array.init c (fun k -> ratio confusion.[k, k] (predictedAs k))
    let recall = Array.init c (fun k -> ratio confusion.[k, k] support.[k])
    let f1 = Array.map2 (fun p r -> if p + r = 0.0 then 0.0 else 2.0 * p * r / (p + r)) precision recall
    let total = Array.sum support
    { Precision = precision; Recall = recall; F1 = f1; Support = support
      MacroPrecision = Array.average precision; MacroRecall = Array.average recall; MacroF1 = Array.average f1
      Accuracy = ratio (Seq.sum (seq { for k in 0 .. c - 1 -> confusion.[k, k] })) total }

/// Area under the ROC curve of a binary problem, by the Mann-Whitney statistic:
/// AUC = (Σ_{i ∈ positives} rank_i - n₊(n₊ + 1)/2) / (n₊ n₋), ranks from 1 in ascending score with tied scores
/// sharing their mean rank (a tie counts one half). The probability that a random positive outscores a random negative.
let rocAuc (scores: float[]) (positive: bool[]) : float =
    if isNull scores then nullArg "scores"
    if isNull positive then nullArg "positive"
    if scores.Length <> positive.Length then invalidArg "positive" $"has {positive.Length} entries for {scores.Length} scores"
    if scores |> Array.exists Double.IsNaN then invalidArg "scores" "contains NaN"
    let nPos = positive |> Array.filter id |> Array.length
    let nNeg = positive.Length - nPos
    if nPos = 0 || nNeg = 0 then invalidArg "positive" "needs at least one positive and one negative sample"
    let order = Array.init scores.Length id |> Array.sortBy (fun i -> scores.[i])
    let ranks = Array.zeroCreate scores.Length
    let mutable start = 0
    while start < order.Length do
        let mutable stop = start
        while stop + 1 < order.Length && scores.[order.[stop + 1]] = scores.[order.[start]] do stop <- stop + 1
        let mean = float (start + stop) / 2.0 + 1.0
        for k in start .. stop do ranks.[order.[k]] <- mean
        start <- stop + 1
    let sumPos = Seq.sum (seq { for i in 0 .. scores.Length - 1 do if positive.[i] then yield ranks.[i] })
    (sumPos - float nPos * float (nPos + 1) / 2.0) / (float nPos * float nNeg)

/// One-vs-rest ROC AUC per class from scores [B; C] and labels [B]: class c's scores against "label = c".
/// A class without positives or without negatives in the batch gets NaN.
let oneVsRestAuc (scores: Tensor) (labels: Tensor) : float[] =
    if isNull (box scores) then nullArg "scores"
    if scores.dim () <> 2 then invalidArg "scores" $"must be [B; C], got shape %A{scores.shape}"
    if isNull (box labels) || labels.shape <> [| scores.shape.[0] |] then invalidArg "labels" $"must be [{scores.shape.[0]}]"
    let c = int scores.shape.[1]
    let s = toFloat64Array scores
    let y = toInt64Array labels
    Array.init c (fun k ->
        let positive = y |> Array.map (fun v -> v = int64 k)
        if Array.forall id positive || Array.forall not positive then nan
        else rocAuc (Array.init y.Length (fun b -> s.[b * c + k])) positive)

/// The mean of the defined (non-NaN) one-vs-rest AUCs: the macro ROC AUC.
let macroAuc (scores: Tensor) (labels: Tensor) : float =
    let defined = oneVsRestAuc scores labels |> Array.filter (Double.IsNaN >> not)
    if defined.Length = 0 then invalidArg "labels" "no class has both positives and negatives" else Array.average defined

/// First-spike latency in steps (0-based) of each neuron, from spikes [T; B; ...] to [B; ...]; T for a silent
/// neuron. Detached (a measurement, not a loss; see `Loss.firstSpikeTimes` for the differentiable form).
let firstSpikeLatency (spikes: Tensor) : Tensor =
    use _ = torch.no_grad ()
    Loss.firstSpikeTimes (spikes.detach ())

/// First-spike decoding with a silent-neuron rule (`Loss.SilentTiming`): the class whose neuron fires first; ties
/// go to the neuron with more spikes, then to the lowest index. Under `AtWindowEnd` (the default of
/// `firstSpikePredictions`) a sample with no spike goes to class 0; under `RankByPeakPotential` it goes to the
/// neuron with the highest peak potential (seed 003's decoding). Spikes [T; B; C] → predicted classes [B].
let firstSpikePredictionsWith (silent: Loss.SilentTiming) (spikes: Tensor) : Tensor =
    if spikes.dim () <> 3 then invalidArg "spikes" $"must be [T; B; C], got shape %A{spikes.shape}"
    use _ = torch.no_grad ()
    let steps = float spikes.shape.[0]
    // Latencies are whole steps and counts ≤ T, so counts/(T + 1) < 1 only breaks ties between equal latencies.
    let key = Loss.firstSpikeTimesWith silent (spikes.detach ()) - Loss.spikeCounts (spikes.detach ()) / (steps + 1.0)
    key.argmin (1L)

/// First-spike decoding with silent neurons at T; see `firstSpikePredictionsWith`.
let firstSpikePredictions (spikes: Tensor) : Tensor = firstSpikePredictionsWith Loss.AtWindowEnd spikes

/// Accuracy of first-spike decoding (earliest output neuron wins) with a silent-neuron rule, on spikes [T; B; C]
/// and labels [B].
let firstSpikeAccuracyWith (silent: Loss.SilentTiming) (spikes: Tensor) (labels: Tensor) : float =
    if spikes.dim () <> 3 || spikes.shape.[1] = 0L then invalidArg "spikes" $"must be a non-empty [T; B; C], got shape %A{spikes.shape}"
    use hits = (firstSpikePredictionsWith silent spikes).eq(labels).sum ()
    float (hits.ToInt64 ()) / float spikes.shape.[1]

/// Accuracy of first-spike decoding (earliest output neuron wins, silent neurons at T) on spikes [T; B; C] and
/// labels [B].
let firstSpikeAccuracy (spikes: Tensor) (labels: Tensor) : float = firstSpikeAccuracyWith Loss.AtWindowEnd spikes labels

/// Accuracy of firing-rate decoding (most spikes wins, ties to the lowest index) on spikes [T; B; C], labels [B].
let firingRateAccuracy (spikes: Tensor) (labels: Tensor) : float =
    if spikes.dim () <> 3 || spikes.shape.[1] = 0L then invalidArg "spikes" $"must be a non-empty [T; B; C], got shape %A{spikes.shape}"
    use _ = torch.no_grad ()
    accuracy (Loss.spikeCounts (spikes.detach ())) labels

/// Spikes per sample, averaged over the batch: (1/B) Σ_{t,b,n} z_tbn, for spikes [T; B; ...].
let spikesPerSample (spikes: Tensor) : float =
    if spikes.dim () < 2 || spikes.shape.[1] = 0L then invalidArg "spikes" $"must be time-first [T; B; ...], got shape %A{spikes.shape}"
    use _ = torch.no_grad ()
    use total = spikes.detach().sum ()
    total.ToDouble () / float spikes.shape.[1]

/// Synaptic operations per sample of a fully connected layer driven by spikes [T; B; N_in]: every input spike
/// reaches `outputs` synapses, SynOps = (1/B) Σ_{t,b,n} z_tbn · outputs.
let denseSynOps (inputSpikes: Tensor) (outputs: int) : float =
    if outputs <= 0 then invalidArg "outputs" $"must be > 0, got {outputs}"
    spikesPerSample inputSpikes * float outputs

/// Synaptic operations per sample of a convolution (kernel k × k, stride s) driven by spikes [T; B; C; H; W]: each
/// input spike reaches about C_out k² / s² synapses (exact away from the border), SynOps = (1/B) Σ z · C_out k²/s².
let convSynOps (inputSpikes: Tensor) (outChannels: int) (kernel: int) (stride: int) : float =
    if inputSpikes.dim () <> 5 then invalidArg "inputSpikes" $"must be [T; B; C; H; W], got shape %A{inputSpikes.shape}"
    if outChannels <= 0 then invalidArg "outChannels" $"must be > 0, got {outChannels}"
    if kernel <= 0 then invalidArg "kernel" $"must be > 0, got {kernel}"
    if stride <= 0 then invalidArg "stride" $"must be > 0, got {stride}"
    spikesPerSample inputSpikes * float outChannels * float (kernel * kernel) / float (stride * stride)

/// MACs of the equivalent ANN's fully connected layer for one sample (one pass, no time): inputs · outputs.
let denseMacs (inputs: int) (outputs: int) : float =
    if inputs <= 0 then invalidArg "inputs" $"must be > 0, got {inputs}"
    if outputs <= 0 then invalidArg "outputs" $"must be > 0, got {outputs}"
    float inputs * float outputs

/// MACs of the equivalent ANN's convolution for one sample: C_in k² · C_out · H_out · W_out.
let convMacs (inChannels: int) (outChannels: int) (kernel: int) (outHeight: int) (outWidth: int) : float =
    for name, v in [ "inChannels", inChannels; "outChannels", outChannels; "kernel", kernel; "outHeight", outHeight; "outWidth", outWidth ] do
        if v <= 0 then invalidArg name $"must be > 0, got {v}"
    float inChannels * float (kernel * kernel) * float outChannels * float outHeight * float outWidth

/// Activity of one fully connected layer of a spiking MLP next to its ANN twin (thesis table 14).
type LayerActivity =
    { /// Layer number, from 1 (layer 0 is the input).
      Layer: int
      /// Neurons in the layer.
      Neurons: int
      /// Spikes the layer emits per sample (SNN events).
      Events: float
      /// Synaptic operations per sample of the connection into this layer: input spikes · neurons.
      SynOps: float
      /// Activations of the ANN twin per sample: one per neuron.
      Activations: float
      /// MACs of the ANN twin per sample: inputs · neurons.
      Macs: float }

/// The table-14 comparison of a spiking MLP: `spikes.[0]` are the input spikes [T; B; N_0] and `spikes.[l]` the
/// spikes [T; B; N_l] of layer l; one row per layer l ≥ 1.
let mlpActivity (spikes: Tensor[]) : LayerActivity[] =
    if isNull spikes || spikes.Length < 2 then invalidArg "spikes" "needs the input spikes and at least one layer"
    spikes |> Array.iteri (fun i s ->
        if isNull (box s) || s.dim () <> 3 then invalidArg $"spikes[{i}]" "must be [T; B; N]"
        if s.shape.[1] <> spikes.[0].shape.[1] then invalidArg $"spikes[{i}]" "has a different batch size than the input")
    [| for l in 1 .. spikes.Length - 1 ->
        let neurons = int spikes.[l].shape.[2]
        let inputs = int spikes.[l - 1].shape.[2]
        { Layer = l; Neurons = neurons; Events = spikesPerSample spikes.[l]
          SynOps = denseSynOps spikes.[l - 1] neurons; Activations = float neurons; Macs = denseMacs inputs neurons } |]
