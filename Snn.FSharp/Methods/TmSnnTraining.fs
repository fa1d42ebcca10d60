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

/// The threshold at which `calibrate` sets every layer's firing rate.
type CalibrationPoint =
    /// The highest task threshold: every task's layers fire at least at the calibration rate at the start, the
    /// lower-threshold tasks more. Measured on EventMnist (3 tasks at 1.25 / 5 / 10): at the geometric mean the
    /// φ = 10 task's layers 2-4 start silent (rates 0.001 / 0 / 0), its output layer gets no gradient and the task
    /// stays at its majority rate; at the highest threshold all three tasks learn.
    | HighestThreshold
    /// The geometric mean of the task thresholds: the lowest task is over-driven and the highest under-driven by the
    /// same factor (the earlier default).
    | GeometricMeanThreshold

/// What TM-SNN adds to a `Training.TrainerSettings` run (epochs, batch size, optimiser, seed of the shuffle and
/// of the per-batch task draws, checkpoints, ... come from there; see `trainerDefaults`).
[<NoEquality; NoComparison>]
type Settings =
    { /// γ of eq. 4.1 in [0, 1]; 0 trains without the task classifier.
      Gamma: float
      /// L_y: a loss of the concatenated label spikes [T; B; Σ labels] and the concatenated target indices [B].
      LabelLoss: Tensor -> Tensor -> Tensor
      /// Before training, scale the weights with `TmSnn.CalibrateWeights` on the first 256 training samples at the
      /// threshold `CalibrateAt` picks.
      Calibrate: bool
      /// The threshold the calibration runs at.
      CalibrateAt: CalibrationPoint
      /// The firing rate (spikes per neuron and step) the calibration gives every layer at that threshold.
      CalibrationRate: float
      /// L_y on the drawn task's slice of the label outputs only (its own labels as targets), instead of on the
      /// concatenated outputs with zero targets for the other tasks' outputs.
      SelectedTaskOnly: bool }

    /// γ = 0, calibrated initialisation at rate 0.05 at the highest task threshold, and
    /// L_y = the mean squared error of the firing rates to the concatenated target (rate 0.5 for the selected task's
    /// label, 0 for every other output, the thesis's "Y_1 and Y_2 = 0"); a count-based cross-entropy over all
    /// outputs grows with the counts and diverges at low thresholds, where every output fires.
    static member Default =
        { Gamma = 0.0; LabelLoss = Loss.mseFiringRate 0.5 0.0
          Calibrate = true; CalibrateAt = HighestThreshold; CalibrationRate = 0.05; SelectedTaskOnly = false }

/// The trainer settings TM-SNN runs use unless told otherwise: 10 epochs, batches of 32 (one task per batch), Adam
/// at 2e-3, seed 0.
let trainerDefaults : Training.TrainerSettings = { Training.TrainerSettings.Default with Epochs = 10; BatchSize = 32; LearningRate = 2e-3 }

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
    if not (s.Gamma >= 0.0 && s.Gamma <= 1.0) then invalidArg "Gamma" $"must lie in [0, 1], got {s.Gamma}"
    if isNull (box s.LabelLoss) then nullArg "LabelLoss"

let private checkData (samples: Tensor) (classes: Tensor) =
    if isNull (box samples) || samples.dim () <> 3 then invalidArg "samples" "must be [N; T; F]"
    if isNull (box classes) || classes.dim () <> 1 || classes.shape.[0] <> samples.shape.[0] then
        invalidArg "classes" $"must be a [{samples.shape.[0]}] vector of class indices"

/// L_y of eq. 4.1 for task k: `settings.LabelLoss` of the label spikes [T; B; Σ labels] against the concatenated
/// targets, or, with `SelectedTaskOnly`, of task k's slice against its own labels. Classes [B].
let labelLoss (model: TmSnn) (settings: Settings) (labelSpikes: Tensor) (classes: Tensor) (task: int) : Tensor =
    if settings.SelectedTaskOnly then
        settings.LabelLoss (MultiTask.slice model.Tasks task labelSpikes) (MultiTask.taskLabels model.Tasks task classes)
    else settings.LabelLoss labelSpikes (MultiTask.concatenatedLabels model.Tasks task classes)

/// The loss of eq. 4.1 for one batch of task k (see `batchLoss`) and every layer's spikes.
let batchLossWithOutput (model: TmSnn) (settings: Settings) (input: Tensor) (classes: Tensor) (task: int) : Tensor * TmSnnOutput =
    let useTasks = settings.Gamma > 0.0 && model.HasTaskClassifier
    let out = model.Run (input, task, useTasks)
    let ly = labelLoss model settings out.Labels classes task
    match out.Tasks with
    | Some taskSpikes when useTasks ->
        let taskTarget = torch.full ([| input.shape.[1] |], (int64 task).ToScalar (), dtype = torch.int64, device = input.device)
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

/// The history measure name of task k's (from 0) gradient norm of label-path layer l (from 0).
let gradientNormName (task: int) (layer: int) = $"task {task + 1} layer {layer + 1} gradient norm"

/// The history measure name of task k's (from 0) firing rate of label-path layer l (from 0).
let firingRateName (task: int) (layer: int) = $"task {task + 1} layer {layer + 1} firing rate"

let private perTaskAndLayer (name: int -> int -> string) (tasks: int) (entry: Training.HistoryEntry) : float[][] =
    let values = entry.Measures |> Array.map (fun m -> m.Name, m.Value) |> dict
    // Layers are numbered contiguously from 0; a task drawn in no batch has no entry.
    let layers = Seq.initInfinite id |> Seq.takeWhile (fun l -> Seq.exists (fun k -> values.ContainsKey (name k l)) (seq { 0 .. tasks - 1 })) |> Seq.length
    Array.init tasks (fun k -> Array.init layers (fun l -> match values.TryGetValue (name k l) with | true, v -> v | _ -> 0.0))

/// Per task k and label-path Linear l: the mean of ‖∂L/∂W_l‖₂ (Frobenius norm of the weight gradient, before
/// clipping) over task k's batches of an epoch (0 for a task drawn in no batch).
let gradientNorms (tasks: int) (entry: Training.HistoryEntry) : float[][] = perTaskAndLayer gradientNormName tasks entry

/// Per task k and label-path spiking layer l: the mean firing rate (spikes per neuron and step) over task k's
/// batches of an epoch (0 for a task drawn in no batch).
let firingRates (tasks: int) (entry: Training.HistoryEntry) : float[][] = perTaskAndLayer firingRateName tasks entry

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
    // Batches go to the model's device; the samples may stay in host memory.
    let device = deviceOf model
    for start in 0L .. int64 batchSize .. n - 1L do
        use _ = torch.NewDisposeScope ()
        let indices = [| start .. min n (start + int64 batchSize) - 1L |]
        let input = onDevice device (Data.Dataset.batchOf samples indices)
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
    let confusion = Metrics.confusionMatrix model.Tasks.[task].LabelCount (predicted.ToArray ()) (truth.ToArray ())
    let config = model.Config
    { Task = task; Name = model.Tasks.[task].Name
      Threshold = (match config.Modulation with ByThreshold -> model.Thresholds.[int64 task].ToDouble () | ByCurrent -> config.Neuron.VThreshold)
      Current = (match config.Modulation with ByThreshold -> 0.0 | ByCurrent -> model.Currents.[int64 task].ToDouble ())
      Report = Metrics.classificationReport confusion; Confusion = confusion
      Activity = activity |> Array.map (fun a -> { a with Events = a.Events / float n; SynOps = a.SynOps / float n }) }

/// Evaluates every task (see `evaluateTask`).
let evaluate (model: TmSnn) (batchSize: int) (samples: Tensor) (classes: Tensor) : TaskEvaluation[] =
    Array.init model.TaskCount (evaluateTask model batchSize samples classes)

/// Scales the weights with `TmSnn.CalibrateWeights` on the first 256 samples [N; T; F] so every layer fires at
/// `settings.CalibrationRate` under the threshold `settings.CalibrateAt` picks (see `CalibrationPoint`).
let calibrate (model: TmSnn) (settings: Settings) (samples: Tensor) : unit =
    use _ = torch.NewDisposeScope ()
    let n = samples.shape.[0]
    let thresholds = [| for k in 0 .. model.TaskCount - 1 -> (model.ModulationOf k).Threshold |> Option.map (fun t -> t.ToDouble ()) |> Option.defaultValue model.Config.Neuron.VThreshold |]
    let reference =
        match settings.CalibrateAt with
        | HighestThreshold -> Array.max thresholds
        | GeometricMeanThreshold -> exp (thresholds |> Array.averageBy log)
    model.CalibrateWeights (onDevice (deviceOf model) (Data.Dataset.batchOf samples [| 0L .. min n 256L - 1L |]), reference, settings.CalibrationRate) |> ignore

/// Accuracy of the drawn task on one batch: the most-spiking output of its slice of the label spikes [T; B; Σ labels].
let private correctOf (model: TmSnn) (task: int) (labelSpikes: Tensor) (classes: Tensor) : int =
    let slice = MultiTask.slice model.Tasks task (labelSpikes.detach ())
    Metrics.correct (Loss.spikeCounts slice) (MultiTask.taskLabels model.Tasks task classes)

/// TM-SNN as a method of the one trainer: every batch trains its drawn task under that task's modulation with the
/// loss of eq. 4.1 (`batchLoss`) and measures, per task and label-path layer, the firing rate and the weight-gradient
/// norm (`firingRates`, `gradientNorms`); after an epoch, when a test split [M; T; F] with classes [M] is given, the
/// mean over tasks of the test accuracy.
let method (model: TmSnn) (settings: Settings) (batchSize: int) (test: (Tensor * Tensor) option) : Trainer.Method =
    validate settings
    { BatchLoss = fun batch ->
        let loss, out = batchLossWithOutput model settings batch.Inputs batch.Labels batch.Task
        let rates = labelPathFiringRates out |> Array.mapi (fun l r -> ({ Name = firingRateName batch.Task l; Value = r } : Training.Measure))
        { Loss = loss; Correct = correctOf model batch.Task out.Labels batch.Labels; Measures = rates }
      Tasks = model.TaskCount
      Hyper = None
      AfterBackward =
        Some (fun batch ->
            labelPathGradientNorms model |> Array.mapi (fun l g -> ({ Name = gradientNormName batch.Task l; Value = g } : Training.Measure)))
      Evaluate =
        test |> Option.map (fun (samples, classes) -> fun () ->
            (evaluate model batchSize samples classes) |> Array.averageBy (fun t -> t.Report.Accuracy)) }

/// Trains the network's weights by the one trainer (the thresholds and currents are not parameters and stay fixed);
/// each batch draws its task uniformly (seeded). Samples [N; T; F], classes [N]; with a test split the history
/// records the mean task accuracy after every epoch (and early stopping may watch it).
let train (model: TmSnn) (training: Training.TrainerSettings) (settings: Settings) (samples: Tensor, classes: Tensor)
          (test: (Tensor * Tensor) option) (onBatch: Training.BatchProgress -> unit) (onEpoch: Training.HistoryEntry -> unit)
          (cancellation: Threading.CancellationToken) : Training.History =
    validate settings
    checkData samples classes
    test |> Option.iter (fun (s, c) -> checkData s c)
    if settings.Calibrate && not (Trainer.resumes training) then calibrate model settings samples
    let source = Trainer.tensorSource training.BatchSize training.Seed (samples, classes)
    Trainer.run model training (method model settings training.BatchSize test) source onBatch onEpoch cancellation

/// `train` without a test split, per-batch reports or cancellation.
let fit (model: TmSnn) (training: Training.TrainerSettings) (settings: Settings) (samples: Tensor) (classes: Tensor)
        (onEpoch: Training.HistoryEntry -> unit) : Training.History =
    train model training settings (samples, classes) None ignore onEpoch Threading.CancellationToken.None
