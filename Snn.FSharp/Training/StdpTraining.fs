/// Layer-by-layer training of a `StdpNetwork` (Mozafari et al. 2018): each convolutional layer learns by first-spike
/// STDP with k-WTA, one sample at a time, while the layers below it are frozen; then the decision layer learns by
/// R-STDP. A checkpoint is written (atomically) after every stage, recording how many stages are trained.
///
/// Data are first-spike times [N; C; H; W] (T or more = never; see `StdpInput`) with labels; spikes built from them
/// are time-first [T; B; ...].
[<RequireQualifiedAccess>]
module Snn.StdpTraining

open System
open System.Diagnostics
open TorchSharp
open Snn.Tensors
open Snn.Modules

/// A labelled set of input first-spike times.
type LabelledTimes =
    { /// First-spike times [N; C; H; W] (float32; T or more = never).
      Times: Tensor
      /// Class of each sample, [N].
      Labels: int[] }

/// How one convolutional layer is trained.
type LayerSchedule =
    { /// Passes over the samples.
      Epochs: int
      /// Samples per pass (0 or more than available = all).
      Samples: int
      /// Every this many samples the potentiation rate doubles, up to `MaxPotentiation`, with the ratio a₋/a₊ kept
      /// (Mozafari's schedule, which speeds up learning from weights near 0.8 where the stabiliser is small); 0 = never.
      RateDoublingInterval: int
      /// Upper limit of the potentiation rate a₊ under doubling.
      MaxPotentiation: float }

    /// 1 pass over all samples, doubling every 500 samples up to 0.15 (as in Mozafari 2018).
    static member Default = { Epochs = 1; Samples = 0; RateDoublingInterval = 500; MaxPotentiation = 0.15 }

/// How the decision layer is trained.
type DecisionSchedule =
    { /// Passes over the samples.
      Epochs: int
      /// Samples per pass (0 = all).
      Samples: int
      /// Mozafari's adaptive rates: in every pass the reward rates are scaled by the previous pass's error rate and
      /// the punishment rates by its hit rate (the first pass assumes chance, 1 - 1/classes errors). With the large
      /// rate multipliers of short runs this lets punishment dominate once training accuracy is high, and accuracy
      /// collapsed in our MovingPatterns runs (0.57 against 0.90 with constant rates), hence off by default.
      Adaptive: bool
      /// Multiplies all R-STDP rates (Mozafari trains the decision layer for hundreds of passes with the paper's
      /// small rates; a run of a few passes needs larger steps).
      RateScale: float
      /// After every pass the rate multiplier is multiplied by this factor in (0, 1] (1 = constant rates), which
      /// anneals the large steps of short runs.
      RateDecay: float }

    /// 10 passes over all samples, constant rates × 1, no annealing.
    static member Default = { Epochs = 10; Samples = 0; Adaptive = false; RateScale = 1.0; RateDecay = 1.0 }

/// The whole schedule.
type StdpTrainingSettings =
    { /// One schedule per convolutional layer.
      Layers: LayerSchedule[]
      /// Decision-layer schedule.
      Decision: DecisionSchedule
      /// Seed of the sample order (pass e shuffles with seed + e).
      Seed: int
      /// Samples per batch when frozen layers run ahead of the layer in training (and in evaluation).
      BatchSize: int }

/// Progress of one pass of a convolutional layer.
type LayerReport =
    { /// Layer index.
      Layer: int
      /// Pass (1-based).
      Epoch: int
      /// Samples seen in this pass.
      Samples: int
      /// Mean number of winners (learning neurons) per sample.
      MeanWinners: float
      /// Convergence C = mean W(1 - W) (Kheradpisheh et al. 2018): 0.25 at W = 0.5, → 0 as weights become binary.
      Convergence: float
      /// Potentiation rate a₊ at the end of the pass.
      Potentiation: float
      /// Wall-clock seconds of the pass.
      Seconds: float }

/// Progress of one pass of the decision layer.
type DecisionReport =
    { /// Pass (1-based).
      Epoch: int
      /// Training accuracy during the pass (decisions before each update).
      TrainAccuracy: float
      /// Fraction of samples without a decision (no decision neuron fired).
      Silent: float
      /// Wall-clock seconds of the pass.
      Seconds: float }

let private check (data: LabelledTimes) =
    if isNull (box data.Times) then nullArg "Times"
    if isNull data.Labels then nullArg "Labels"
    if data.Times.dim () <> 4L then invalidArg "Times" $"must be first-spike times [N; C; H; W], got shape %A{data.Times.shape}"
    if data.Times.shape.[0] <> int64 data.Labels.Length then
        invalidArg "Labels" $"has {data.Labels.Length} labels for {data.Times.shape.[0]} samples"

let private count (requested: int) (available: int) = if requested <= 0 || requested > available then available else requested

/// Mean W(1 - W) of a weight in [0, 1].
let convergence (weight: Tensor) : float = (weight * (1.0 - weight)).mean().ToDouble ()

/// Runs `f` over the samples `indices` of `data` in batches of `batchSize`, passing each batch's times through the
/// first `stage` layers; `f` gets the batch's sample indices and their stage features [b; ...].
let private forBatches (net: StdpNetwork) (stage: int) (batchSize: int) (data: LabelledTimes) (indices: int[])
                       (f: int[] -> Tensor -> unit) =
    for chunk in Array.chunkBySize (max 1 batchSize) indices do
        use _ = torch.NewDisposeScope ()
        use _ = torch.no_grad ()
        let batch = data.Times.index_select (0L, torch.tensor (chunk |> Array.map int64))
        f chunk (net.Features stage batch)

/// Trains convolutional layer `layer` by first-spike STDP with k-WTA, one sample at a time, the layers below frozen.
/// Calls `progress` after every pass and returns the reports.
let trainLayer (net: StdpNetwork) (layer: int) (schedule: LayerSchedule) (seed: int) (batchSize: int)
               (data: LabelledTimes) (progress: LayerReport -> unit) : LayerReport list =
    check data
    let s = net.Settings
    if layer < 0 || layer >= s.Layers.Length then invalidArg "layer" $"must lie in [0, {s.Layers.Length - 1}], got {layer}"
    if schedule.Epochs < 1 then invalidArg "Epochs" $"must be >= 1, got {schedule.Epochs}"
    if schedule.RateDoublingInterval < 0 then invalidArg "RateDoublingInterval" $"must be >= 0, got {schedule.RateDoublingInterval}"
    let l = s.Layers.[layer]
    let weight = net.ConvWeight layer
    let n = count schedule.Samples (int data.Times.shape.[0])
    let ratio = if l.Stdp.Potentiation > 0.0 then l.Stdp.Depression / l.Stdp.Potentiation else 0.0
    let mutable rates = l.Stdp
    let mutable seen = 0
    [ for epoch in 1 .. schedule.Epochs do
        let clock = Stopwatch.StartNew ()
        let order = Data.Dataset.shuffle (seed + epoch) (int data.Times.shape.[0])
        let mutable winners = 0
        forBatches net layer batchSize data order.[.. n - 1] (fun chunk features ->
            for i in 0 .. chunk.Length - 1 do
                use _ = torch.NewDisposeScope ()
                let x = features.narrow (0L, int64 i, 1L)
                let out = net.Layer layer x
                let chosen = Plasticity.kWinners l.Winners l.InhibitionRadius s.Steps out.Times out.Score
                winners <- winners + chosen.Length
                if chosen.Length > 0 then
                    let dw = Plasticity.firstSpikeStdp rates 1 l.Padding weight x out.Times chosen
                    weight.copy_ (Plasticity.applyFirstSpike rates weight dw) |> ignore
                seen <- seen + 1
                if schedule.RateDoublingInterval > 0 && seen % schedule.RateDoublingInterval = 0 then
                    let a = min (2.0 * rates.Potentiation) (max schedule.MaxPotentiation rates.Potentiation)
                    rates <- { rates with Potentiation = a; Depression = a * ratio })
        let report =
            { Layer = layer; Epoch = epoch; Samples = n; MeanWinners = float winners / float n
              Convergence = convergence weight; Potentiation = rates.Potentiation; Seconds = clock.Elapsed.TotalSeconds }
        progress report
        report ]

/// The decision layer's input first-spike times for every sample (all conv layers run, in batches).
let decisionInputs (net: StdpNetwork) (batchSize: int) (data: LabelledTimes) : Tensor =
    check data
    let parts = Collections.Generic.List<Tensor> ()
    for chunk in Array.chunkBySize (max 1 batchSize) [| 0 .. int data.Times.shape.[0] - 1 |] do
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope ()
        let batch = data.Times.index_select (0L, torch.tensor (chunk |> Array.map int64))
        parts.Add ((net.Features net.Settings.Layers.Length batch).MoveToOuterDisposeScope ())
    torch.cat (parts.ToArray (), 0L)

/// Trains the decision layer by R-STDP: per sample (in shuffled order) the earliest decision neuron decides; reward
/// +1 when its class is the label (STDP on its kernel), -1 otherwise (anti-STDP); no update when none fires.
/// `inputs` are the decision layer's input times (`decisionInputs`). Returns the per-pass reports.
let trainDecision (net: StdpNetwork) (schedule: DecisionSchedule) (seed: int) (inputs: Tensor) (labels: int[])
                  (progress: DecisionReport -> unit) : DecisionReport list =
    check { Times = inputs; Labels = labels }
    if schedule.Epochs < 1 then invalidArg "Epochs" $"must be >= 1, got {schedule.Epochs}"
    if not (schedule.RateScale > 0.0) || Double.IsInfinity schedule.RateScale then invalidArg "RateScale" $"must be > 0, got {schedule.RateScale}"
    if not (schedule.RateDecay > 0.0 && schedule.RateDecay <= 1.0) then invalidArg "RateDecay" $"must lie in (0, 1], got {schedule.RateDecay}"
    let d = net.Settings.Decision
    let weight = net.DecisionWeight
    let n = count schedule.Samples labels.Length
    let mutable errorRate, hitRate = 1.0 - 1.0 / float d.Classes, 1.0 / float d.Classes
    [ for epoch in 1 .. schedule.Epochs do
        let clock = Stopwatch.StartNew ()
        let rates =
            let scale (p: Plasticity.FirstSpikeStdpParameters) k =
                let m = schedule.RateScale * Math.Pow (schedule.RateDecay, float (epoch - 1))
                { p with Potentiation = p.Potentiation * k * m; Depression = p.Depression * k * m }
            if schedule.Adaptive then { d.RStdp with Reward = scale d.RStdp.Reward errorRate; Punishment = scale d.RStdp.Punishment hitRate }
            else { d.RStdp with Reward = scale d.RStdp.Reward 1.0; Punishment = scale d.RStdp.Punishment 1.0 }
        let order = Data.Dataset.shuffle (seed + epoch) labels.Length
        let mutable hits, silent = 0, 0
        use _ = torch.no_grad ()
        for i in order.[.. n - 1] do
            use _ = torch.NewDisposeScope ()
            let x = inputs.narrow (0L, int64 i, 1L)
            let out = net.DecisionLayer x
            let decisions, winners = net.Decide out
            if winners.Length = 0 then silent <- silent + 1
            else
                let reward = if decisions.[0] = labels.[i] then 1.0 else -1.0
                if reward > 0.0 then hits <- hits + 1
                let dw = Plasticity.rewardModulatedFirstSpike rates 1 0 weight x out.Times winners [| reward |]
                weight.copy_ (Plasticity.applyFirstSpike rates.Reward weight dw) |> ignore
        let accuracy = float hits / float n
        errorRate <- 1.0 - accuracy
        hitRate <- accuracy
        let report = { Epoch = epoch; TrainAccuracy = accuracy; Silent = float silent / float n; Seconds = clock.Elapsed.TotalSeconds }
        progress report
        report ]

/// Predictions (class or -1) for decision-layer inputs [N; C; h; w], in batches.
let predictDecisions (net: StdpNetwork) (batchSize: int) (inputs: Tensor) : int[] =
    if isNull (box inputs) then nullArg "inputs"
    [| for chunk in Array.chunkBySize (max 1 batchSize) [| 0 .. int inputs.shape.[0] - 1 |] do
        use _ = torch.no_grad ()
        use _ = torch.NewDisposeScope ()
        let batch = inputs.index_select (0L, torch.tensor (chunk |> Array.map int64))
        yield! fst (net.Decide (net.DecisionLayer batch)) |]

/// Fraction of predictions equal to the labels (a missing decision, -1, counts as wrong).
let accuracy (predictions: int[]) (labels: int[]) : float =
    if predictions.Length <> labels.Length then invalidArg "labels" $"has {labels.Length} labels for {predictions.Length} predictions"
    if labels.Length = 0 then invalidArg "labels" "must not be empty"
    float (Array.fold2 (fun acc p l -> if p = l then acc + 1 else acc) 0 predictions labels) / float labels.Length

/// Writes the network's weights and trained-stage count to `path` atomically (temporary file, then rename).
let save (path: string) (net: StdpNetwork) : unit =
    AtomicFile.write path (fun p -> net.save p |> ignore)

/// Loads weights and the trained-stage count saved by `save` into a network built with the same settings.
let load (path: string) (net: StdpNetwork) : unit =
    if not (IO.File.Exists path) then raise (IO.FileNotFoundException ($"no STDP checkpoint at {path}", path))
    net.load path |> ignore

/// Everything the layer-by-layer run produced.
type StdpRunReport =
    { /// Per-pass reports of every conv layer, in order.
      Layers: LayerReport list
      /// Per-pass reports of the decision layer.
      Decision: DecisionReport list }

/// Trains all stages not yet trained (per `net.TrainedStages`, so a loaded checkpoint resumes at the next stage),
/// writing the checkpoint to `checkpoint` (when given) after each stage.
let train (net: StdpNetwork) (settings: StdpTrainingSettings) (data: LabelledTimes) (checkpoint: string option)
          (onLayer: LayerReport -> unit) (onDecision: DecisionReport -> unit) : StdpRunReport =
    check data
    let layers = net.Settings.Layers.Length
    if isNull settings.Layers || settings.Layers.Length <> layers then
        invalidArg "Layers" $"needs one schedule per conv layer ({layers})"
    let saveStage () = checkpoint |> Option.iter (fun path -> save path net)
    let layerReports =
        [ for layer in net.TrainedStages .. layers - 1 do
            yield! trainLayer net layer settings.Layers.[layer] (settings.Seed + 1000 * layer) settings.BatchSize data onLayer
            net.TrainedStages <- layer + 1
            saveStage () ]
    let decisionReports =
        if net.TrainedStages > layers then []
        else
            let inputs = decisionInputs net settings.BatchSize data
            let reports = trainDecision net settings.Decision settings.Seed inputs data.Labels onDecision
            net.TrainedStages <- layers + 1
            saveStage ()
            reports
    { Layers = layerReports; Decision = decisionReports }
