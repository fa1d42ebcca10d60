/// Training and evaluation of the threshold-modulated multi-task SNN (thesis 4.2.3): every batch draws a task k,
/// the feature and label blocks run under task k's threshold φ_k (or current I_k), and the loss is eq. 4.1,
/// L = (1 - γ) L_y + γ L_t, with L_y on the concatenated label outputs (target: the selected task's label, zeros for
/// the other tasks' outputs) and L_t the task classifier's cross-entropy on spike counts. Evaluation sets φ_k and
/// reads task k's slice only. Samples are [N; T; F] (converted to time-first [T; B; F] per batch); classes [N] are
/// the dataset's class indices, mapped to each task's labels by `MultiTask`.
[<RequireQualifiedAccess>]
module Snn.TmSnnTraining

open System
open System.Diagnostics
open TorchSharp
open Snn.Modules
open Snn.Tensors

/// Settings of a TM-SNN training run.
[<NoEquality; NoComparison>]
type Settings =
    { /// Passes over the training set.
      Epochs: int
      /// Samples per step (one task per batch).
      BatchSize: int
      /// Adam learning rate.
      LearningRate: float
      /// Seed of shuffling and of the per-batch task draws.
      Seed: int
      /// γ of eq. 4.1 in [0, 1]; 0 trains without the task classifier.
      Gamma: float
      /// L_y: a loss of the concatenated label spikes [T; B; Σ labels] and the concatenated target indices [B].
      LabelLoss: Tensor -> Tensor -> Tensor
      /// Before training, scale the weights with `TmSnn.CalibrateWeights` on the first 256 training samples at the
      /// geometric mean of the task thresholds.
      Calibrate: bool
      /// The firing rate (spikes per neuron and step) the calibration gives every layer at that threshold.
      CalibrationRate: float
      /// L_y on the drawn task's slice of the label outputs only (its own labels as targets), instead of on the
      /// concatenated outputs with zero targets for the other tasks' outputs.
      SelectedTaskOnly: bool }

    /// 10 epochs, batches of 32, Adam at 2e-3, seed 0, γ = 0, calibrated initialisation at rate 0.05, and
    /// L_y = the mean squared error of the firing rates to the concatenated target (rate 0.5 for the selected task's
    /// label, 0 for every other output, the thesis's "Y_1 and Y_2 = 0"); a count-based cross-entropy over all
    /// outputs grows with the counts and diverges at low thresholds, where every output fires.
    static member Default =
        { Epochs = 10; BatchSize = 32; LearningRate = 2e-3; Seed = 0; Gamma = 0.0; LabelLoss = Loss.mseFiringRate 0.5 0.0
          Calibrate = true; CalibrationRate = 0.05; SelectedTaskOnly = false }

/// One epoch of a TM-SNN run.
type EpochReport =
    { /// Epoch number, from 1.
      Epoch: int
      /// Mean of eq. 4.1 over the epoch's batches.
      TrainLoss: float
      /// Training accuracy in [0, 1] of the drawn tasks (most spikes in the task's slice wins).
      TrainAccuracy: float
      /// Batches trained per task in this epoch.
      BatchesPerTask: int[]
      /// Per task k and label-path Linear l (feature layers, label hidden, label output): the mean over task k's
      /// batches of this epoch of ‖∂L/∂W_l‖₂, the Frobenius norm of the layer's weight gradient (0 for a task
      /// drawn in no batch). Empty when not recorded.
      GradientNorms: float[][]
      /// Per task k and label-path spiking layer l (feature layers, label hidden, label output): the mean firing rate
      /// (spikes per neuron and step) over task k's training batches of this epoch. Empty when not recorded.
      FiringRates: float[][]
      /// Wall-clock seconds since training started.
      ElapsedSeconds: float }

/// Per-task results of an evaluation (thesis tables 10-16).
type TaskEvaluation =
    { /// Task index k.
      Task: int
      /// Task name.
      Name: string
      /// The threshold φ_k (or the base threshold under current modulation).
      Threshold: float
      /// The external current I_k (0 under threshold modulation).
      Current: float
      /// Accuracy, precision, recall and F1 of the task's labels.
      Report: Metrics.ClassificationReport
      /// Confusion matrix (rows = true label).
      Confusion: int[,]
      /// Events, SynOps, ANN activations and MACs per label-path layer, per sample (table 14).
      Activity: Metrics.LayerActivity[] }

let private validate (s: Settings) =
    if s.Epochs <= 0 then invalidArg "Epochs" $"must be > 0, got {s.Epochs}"
    if s.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {s.BatchSize}"
    if not (s.LearningRate > 0.0) then invalidArg "LearningRate" $"must be > 0, got {s.LearningRate}"
    if not (s.Gamma >= 0.0 && s.Gamma <= 1.0) then invalidArg "Gamma" $"must lie in [0, 1], got {s.Gamma}"
    if isNull (box s.LabelLoss) then nullArg "LabelLoss"

let private checkData (samples: Tensor) (classes: Tensor) =
    if isNull (box samples) || samples.dim () <> 3 then invalidArg "samples" "must be [N; T; F]"
    if isNull (box classes) || classes.dim () <> 1 || classes.shape.[0] <> samples.shape.[0] then
        invalidArg "classes" $"must be a [{samples.shape.[0]}] vector of class indices"

/// The loss of eq. 4.1 for one batch of task k (see `batchLoss`) and every layer's spikes.
let batchLossWithOutput (model: TmSnn) (settings: Settings) (input: Tensor) (classes: Tensor) (task: int) : Tensor * TmSnnOutput =
    let useTasks = settings.Gamma > 0.0 && model.HasTaskClassifier
    let out = model.Run (input, task, useTasks)
    let ly =
        if settings.SelectedTaskOnly then
            settings.LabelLoss (MultiTask.slice model.Tasks task out.Labels) (MultiTask.taskLabels model.Tasks task classes)
        else settings.LabelLoss out.Labels (MultiTask.concatenatedLabels model.Tasks task classes)
    match out.Tasks with
    | Some taskSpikes when useTasks ->
        let taskTarget = torch.zeros ([| input.shape.[1] |], dtype = torch.int64) + int64 task
        let lt = Loss.crossEntropyOnCounts taskSpikes taskTarget
        Loss.multiTask settings.Gamma ly lt, out
    | _ -> ly, out

/// The loss of eq. 4.1 for one batch of task k: (1 - γ) L_y(labels, offset_k + y) + γ CE(task counts, k); with
/// γ = 0 (or no task classifier output) it is L_y alone. Returns the loss and the label spikes [T; B; Σ labels].
let batchLoss (model: TmSnn) (settings: Settings) (input: Tensor) (classes: Tensor) (task: int) : Tensor * Tensor =
    let loss, out = batchLossWithOutput model settings input classes task
    loss, out.Labels

/// ‖∂L/∂W‖₂ of every label-path Linear (feature layers, label hidden, label output), after a backward pass; 0 for a
/// layer without gradient.
let labelPathGradientNorms (model: TmSnn) : float[] =
    model.LabelPathLinears |> Array.map (fun l ->
        let g = l.weight.grad
        if isNull (box g) then 0.0 else g.norm().ToDouble ())

/// The firing rate (spikes per neuron and step) of every spiking layer of the label path: features, label hidden,
/// label output.
let labelPathFiringRates (out: TmSnnOutput) : float[] =
    Array.append out.Features [| out.LabelHidden; out.Labels |] |> Array.map (fun z -> z.detach().mean().ToDouble ())

/// Trains the network's weights with Adam (the thresholds and currents are not parameters and stay fixed); each
/// batch draws its task uniformly (seeded). `onEpoch` sees every epoch's report. Samples [N; T; F], classes [N].
let fit (model: TmSnn) (settings: Settings) (samples: Tensor) (classes: Tensor) (onEpoch: EpochReport -> unit) : EpochReport list =
    validate settings
    checkData samples classes
    let n = int samples.shape.[0]
    if settings.Calibrate then
        use _ = torch.NewDisposeScope ()
        let thresholds = [| for k in 0 .. model.TaskCount - 1 -> (model.ModulationOf k).Threshold |> Option.map (fun t -> t.ToDouble ()) |> Option.defaultValue model.Config.Neuron.VThreshold |]
        // The geometric mean of the thresholds: the lowest task is over-driven and the highest under-driven by the
        // same factor, instead of one of them being silent or saturated.
        let reference = exp (thresholds |> Array.averageBy log)
        model.CalibrateWeights (Training.batchOf samples [| 0L .. int64 (min n 256) - 1L |], reference, settings.CalibrationRate) |> ignore
    let optimizer = torch.optim.Adam (model.parameters (), settings.LearningRate)
    let rng = Random settings.Seed
    let clock = Stopwatch.StartNew ()
    let batches = (n + settings.BatchSize - 1) / settings.BatchSize
    [ for epoch in 1 .. settings.Epochs do
        model.train ()
        let order = Array.init n int64
        rng.Shuffle order
        let draws = MultiTask.drawTasks (settings.Seed * 7919 + epoch) model.TaskCount batches
        let mutable lossSum = 0.0
        let mutable hits = 0
        let layers = model.LabelPathLinears.Length
        let gradientSums = Array.init model.TaskCount (fun _ -> Array.zeroCreate<float> layers)
        let rateSums = Array.init model.TaskCount (fun _ -> Array.zeroCreate<float> layers)
        for b in 0 .. batches - 1 do
            use _ = torch.NewDisposeScope ()
            let indices = order.[b * settings.BatchSize .. min n ((b + 1) * settings.BatchSize) - 1]
            let batchClasses = classes.index_select (0L, torch.tensor indices)
            optimizer.zero_grad ()
            let loss, out = batchLossWithOutput model settings (Training.batchOf samples indices) batchClasses draws.[b]
            Diff.backward loss
            Array.iteri (fun l g -> gradientSums.[draws.[b]].[l] <- gradientSums.[draws.[b]].[l] + g) (labelPathGradientNorms model)
            Array.iteri (fun l r -> rateSums.[draws.[b]].[l] <- rateSums.[draws.[b]].[l] + r) (labelPathFiringRates out)
            optimizer.step () |> ignore
            lossSum <- lossSum + loss.ToDouble ()
            let slice = MultiTask.slice model.Tasks draws.[b] (out.Labels.detach ())
            hits <- hits + Metrics.correct (Loss.spikeCounts slice) (MultiTask.taskLabels model.Tasks draws.[b] batchClasses)
        let perTask = Array.init model.TaskCount (fun k -> draws |> Array.filter ((=) k) |> Array.length)
        let mean (sums: float[][]) = sums |> Array.mapi (fun k s -> s |> Array.map (fun v -> v / float (max 1 perTask.[k])))
        let report =
            { Epoch = epoch; TrainLoss = lossSum / float batches; TrainAccuracy = float hits / float n
              BatchesPerTask = perTask; GradientNorms = mean gradientSums; FiringRates = mean rateSums
              ElapsedSeconds = clock.Elapsed.TotalSeconds }
        onEpoch report
        yield report ]

/// Evaluates task k: the network runs under task k's modulation, the prediction is the most-spiking output of task
/// k's slice (ties to the lowest label), and the layer activity is averaged per sample. Samples [N; T; F], classes [N].
let evaluateTask (model: TmSnn) (batchSize: int) (samples: Tensor) (classes: Tensor) (task: int) : TaskEvaluation =
    if batchSize <= 0 then invalidArg "batchSize" $"must be > 0, got {batchSize}"
    checkData samples classes
    if task < 0 || task >= model.TaskCount then invalidArg "task" $"must lie in [0, {model.TaskCount}), got {task}"
    model.eval ()
    use _ = torch.no_grad ()
    let n = samples.shape.[0]
    let predicted = ResizeArray<int64> ()
    let truth = ResizeArray<int64> ()
    let mutable activity : Metrics.LayerActivity[] = [||]
    for start in 0L .. int64 batchSize .. n - 1L do
        use _ = torch.NewDisposeScope ()
        let indices = [| start .. min n (start + int64 batchSize) - 1L |]
        let input = Training.batchOf samples indices
        let out = model.Run (input, task, false)
        let labels = MultiTask.taskLabels model.Tasks task (classes.index_select (0L, torch.tensor indices))
        predicted.AddRange (toInt64Array (Metrics.predictions (Loss.spikeCounts (MultiTask.slice model.Tasks task out.Labels))))
        truth.AddRange (toInt64Array labels)
        let batch = Metrics.mlpActivity (out.LabelPath input)
        let weight = float indices.Length
        activity <-
            if activity.Length = 0 then batch |> Array.map (fun a -> { a with Events = a.Events * weight; SynOps = a.SynOps * weight })
            else Array.map2 (fun (acc: Metrics.LayerActivity) (a: Metrics.LayerActivity) ->
                    { acc with Events = acc.Events + a.Events * weight; SynOps = acc.SynOps + a.SynOps * weight }) activity batch
    let confusion = Metrics.confusionMatrix model.Tasks.[task].Labels (predicted.ToArray ()) (truth.ToArray ())
    let config = model.Config
    { Task = task; Name = model.Tasks.[task].Name
      Threshold = (match config.Modulation with ByThreshold -> model.Thresholds.[int64 task].ToDouble () | ByCurrent -> config.Neuron.VThreshold)
      Current = (match config.Modulation with ByThreshold -> 0.0 | ByCurrent -> model.Currents.[int64 task].ToDouble ())
      Report = Metrics.classificationReport confusion; Confusion = confusion
      Activity = activity |> Array.map (fun a -> { a with Events = a.Events / float n; SynOps = a.SynOps / float n }) }

/// Evaluates every task (see `evaluateTask`).
let evaluate (model: TmSnn) (batchSize: int) (samples: Tensor) (classes: Tensor) : TaskEvaluation[] =
    Array.init model.TaskCount (evaluateTask model batchSize samples classes)
