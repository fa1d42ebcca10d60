/// Training of auxiliary-learning SNNs (AL-SNN, thesis ch. 3, eqs. 3.2-3.3) with a pluggable loss combination.
///
/// A training step computes PER-SAMPLE losses, the main loss l_M ∈ R^B and the auxiliary losses l_A ∈ R^{B×K}
/// (column i = task i), and hands them to a `Combiner` that returns the scalar loss to minimise. Eq. 3.3 is the
/// combiner `manual α γ`; a learned combiner h_φ (AuxiLearn) is any other function of the same type, e.g.
/// `fun m a -> m.mean () + hφ(a).mean ()`, so the hypergradient code can reuse `perSampleLosses` and `step`.
/// Tensors are time-first: inputs [T; B; ...], votes [T; B; C].
[<RequireQualifiedAccess>]
module Snn.AuxiliaryLearning

open System
open System.Diagnostics
open TorchSharp
open Snn.Modules
open Snn.Tensors

/// A loss combination: `combine mainPerSample auxPerSample` with mainPerSample [B] and auxPerSample [B; K] (both
/// carrying the graph of the network) returns the scalar training loss L = L_M + h(L_A^(1), ..., L_A^(K)) (eq. 3.2).
/// It must be differentiable in both arguments and return a tensor with one element.
type Combiner = Tensor -> Tensor -> Tensor

/// A per-sample loss: outputs [T; B; C] and labels [B] (int64) → losses [B].
type PerSampleLoss = Tensor -> Tensor -> Tensor

let private checkOutputs (outputs: Tensor) (labels: Tensor) =
    if isNull (box outputs) then nullArg "outputs"
    if isNull (box labels) then nullArg "labels"
    if outputs.dim () <> 3L then invalidArg "outputs" $"must be time-first [T; B; C], got shape %A{outputs.shape}"
    if labels.dim () <> 1L || labels.shape.[0] <> outputs.shape.[1] then
        invalidArg "labels" $"must be a vector of {outputs.shape.[1]} class indices, got shape %A{labels.shape}"
    if labels.dtype <> torch.int64 then invalidArg "labels" $"must hold int64 class indices, got {labels.dtype}"
    // Checked here: an out-of-range index aborts the native cross-entropy.
    let classes = outputs.shape.[2]
    if Tensors.holdsValues labels then
        match Tensors.toInt64Array labels |> Array.tryFind (fun v -> v < 0L || v >= classes) with
        | Some bad -> invalidArg "labels" $"holds class {bad}, outside [0, {classes})"
        | None -> ()

/// Per-sample cross-entropy with the summed outputs as logits: l_b = -log softmax(n_b)_{y_b}, n_bc = Σ_t o_tbc.
/// With voting outputs, n_bc is the time-summed fraction of class c's group that fired. Its batch mean equals
/// `Loss.crossEntropyOnCounts`. Outputs [T; B; C], labels [B] → [B].
let crossEntropyOnCounts (outputs: Tensor) (labels: Tensor) : Tensor =
    checkOutputs outputs labels
    torch.nn.functional.cross_entropy (outputs.sum (0L), labels, reduction = torch.nn.Reduction.None)

/// Per-sample MSE between firing rates and the one-hot label (the loss of Fang et al. 2021's PLIF networks):
/// l_b = (1/C) Σ_c (r_bc - [c = y_b])², r_bc = (1/T) Σ_t o_tbc. Outputs [T; B; C], labels [B] → [B].
let mseOneHotRate (outputs: Tensor) (labels: Tensor) : Tensor =
    checkOutputs outputs labels
    let target = torch.nn.functional.one_hot(labels, outputs.shape.[2]).``to`` outputs.dtype
    let error = outputs.mean ([| 0L |]) - target
    (error * error).mean ([| 1L |])

/// Eq. 3.3 on per-sample losses: L = (1/B) Σ_b [(1 - α) l_M,b + α Σ_i γ_i l_A,bi], α ∈ [0, 1], one γ_i per task.
/// Because the combination is linear, this equals `Loss.auxiliary α γ` of the batch-mean losses.
let manual (alpha: float) (gammas: float[]) : Combiner =
    if not (alpha >= 0.0 && alpha <= 1.0) then invalidArg "alpha" $"must lie in [0, 1], got {alpha}"
    if isNull gammas then nullArg "gammas"
    gammas |> Array.iteri (fun i g -> if Double.IsNaN g || Double.IsInfinity g then invalidArg "gammas" $"gammas[{i}] must be finite, got {g}")
    fun (mainPerSample: Tensor) (auxPerSample: Tensor) ->
        if auxPerSample.dim () <> 2L || auxPerSample.shape.[1] <> int64 gammas.Length then
            invalidArg "auxPerSample" $"must be [B; {gammas.Length}] (one column per γ), got shape %A{auxPerSample.shape}"
        if gammas.Length = 0 then mainPerSample.mean () * (1.0 - alpha)
        else
            use g = torch.tensor(gammas, device = auxPerSample.device).``to`` auxPerSample.dtype
            let auxiliary = (auxPerSample * g).sum (1L)
            (mainPerSample * (1.0 - alpha) + auxiliary * alpha).mean ()

/// The main loss alone, L = (1/B) Σ_b l_M,b (a single-task SNN; auxiliary losses are ignored).
let mainOnly : Combiner = fun mainPerSample _ -> mainPerSample.mean ()

/// Per-sample losses of one batch: the model runs in its current mode (training mode gives the auxiliary heads),
/// the main loss is `loss` of the main votes against `labels` [B], and column i of the auxiliary losses is `loss`
/// of head i against `LabelMap.apply tasks.[i] labels`. Returns (main [B], auxiliary [B; K], the run's
/// outputs). In evaluation mode, or with no task, the auxiliary matrix is [B; 0].
let perSampleLosses (model: AlSnn) (tasks: LabelMap[]) (loss: PerSampleLoss) (input: Tensor) (labels: Tensor)
                    : Tensor * Tensor * AlSnnOutput =
    if isNull (box model) then nullArg "model"
    if isNull tasks then nullArg "tasks"
    if tasks.Length <> model.AuxiliaryClassifiers.Length then
        invalidArg "tasks" $"has {tasks.Length} auxiliary tasks for a model with {model.AuxiliaryClassifiers.Length} auxiliary classifiers"
    tasks |> Array.iteri (fun i t ->
        LabelMap.validate model.MainClasses t |> ignore
        if t.LabelCount <> model.AuxiliaryClassifiers.[i].Classes then
            invalidArg "tasks" $"task {i} ('{t.Name}') has {t.LabelCount} labels, its classifier has {model.AuxiliaryClassifiers.[i].Classes} outputs")
    let output = model.Run input
    let main = loss output.Main labels
    let batch = labels.shape.[0]
    let auxiliary =
        if output.Auxiliary.Length = 0 then torch.zeros ([| batch; 0L |], dtype = main.dtype, device = main.device)
        else
            let columns = Array.map2 (fun (t: LabelMap) (votes: Tensor) -> loss votes (LabelMap.apply t labels)) tasks output.Auxiliary
            torch.stack (columns, 1L)
    main, auxiliary, output

/// What auxiliary learning adds to a `Training.TrainerSettings` run (epochs, batch size, optimiser, shuffle seed,
/// checkpoints, ... come from there; weights and dropout masks follow `torch.manual_seed`, set by the caller).
[<NoEquality; NoComparison>]
type Settings =
    { /// The auxiliary tasks, one per auxiliary classifier of the model.
      Tasks: LabelMap[]
      /// The per-sample loss of every head.
      Loss: PerSampleLoss
      /// The combination of per-sample main and auxiliary losses into the training loss.
      Combine: Combiner }

    /// No auxiliary task, per-sample cross-entropy on vote counts, main loss only.
    static member Default = { Tasks = [||]; Loss = crossEntropyOnCounts; Combine = mainOnly }

/// The trainer settings auxiliary-learning runs use unless told otherwise: 10 epochs, batches of 32, Adam at 1e-3,
/// seed 0.
let trainerDefaults : Training.TrainerSettings = { Training.TrainerSettings.Default with Epochs = 10; BatchSize = 32; LearningRate = 1e-3 }

/// The measures of one batch: the batch-mean main loss and the batch-mean loss of each auxiliary task.
let measuresOf (tasks: LabelMap[]) (main: Tensor) (auxiliary: Tensor) : Training.Measure[] =
    use _ = torch.no_grad ()
    [| yield { Name = "main loss"; Value = main.mean().ToDouble () }
       for i in 0 .. int auxiliary.shape.[1] - 1 ->
           { Name = $"auxiliary loss {i + 1} ({tasks.[i].Name})"; Value = auxiliary.select(1L, int64 i).mean().ToDouble () } |]

/// The main loss of an epoch's history entry (the mean of the batch-mean main losses).
let mainLoss (entry: Training.HistoryEntry) : float =
    entry.Measures |> Array.find (fun m -> m.Name = "main loss") |> fun m -> m.Value

/// The mean loss of each auxiliary task in an epoch's history entry, in task order.
let auxiliaryLosses (entry: Training.HistoryEntry) : float[] =
    entry.Measures |> Array.filter (fun m -> m.Name.StartsWith "auxiliary loss ") |> Array.map (fun m -> m.Value)

/// One AL-SNN batch under `combine`: per-sample losses (`perSampleLosses`), their combination, the main-task hits.
let batchLossWith (model: AlSnn) (settings: Settings) (combine: Combiner) (batch: Trainer.Batch) : Trainer.BatchLoss =
    let main, auxiliary, output = perSampleLosses model settings.Tasks settings.Loss batch.Inputs batch.Labels
    let loss = combine main auxiliary
    if isNull (box loss) || loss.numel () <> 1L then invalidOp "the Combine function must return a tensor with one element"
    if not loss.requires_grad then invalidOp "the combined loss has no gradient; Combine must use its arguments"
    { Loss = loss
      Correct = Metrics.correct (Loss.spikeCounts (output.Main.detach ())) batch.Labels
      Measures = measuresOf settings.Tasks main auxiliary }

/// The result of one optimisation step.
type StepResult =
    { /// The combined loss that was minimised.
      Loss: float
      /// Batch-mean main loss.
      MainLoss: float
      /// Batch-mean loss of each auxiliary task.
      AuxiliaryLosses: float[]
      /// Main-task predictions that matched the labels.
      Correct: int }

/// One optimisation step in training mode outside the trainer (for custom loops): `batchLossWith` under
/// `settings.Combine`, backward, optimiser step. Input [T; B; ...], labels [B].
let step (model: AlSnn) (optimizer: torch.optim.Optimizer) (settings: Settings) (input: Tensor) (labels: Tensor) : StepResult =
    model.train ()
    optimizer.zero_grad ()
    let r = batchLossWith model settings settings.Combine { Epoch = 1; Index = 0; Step = 0; Inputs = input; Labels = labels; Task = 0 }
    Diff.backward r.Loss
    optimizer.step () |> ignore
    { Loss = r.Loss.ToDouble ()
      MainLoss = r.Measures.[0].Value
      AuxiliaryLosses = r.Measures.[1..] |> Array.map (fun m -> m.Value)
      Correct = r.Correct }

let private checkSettings (settings: Settings) =
    if isNull (box settings.Loss) then nullArg "Loss"
    if isNull (box settings.Combine) then nullArg "Combine"
    if isNull settings.Tasks then nullArg "Tasks"

/// AL-SNN as a method of the one trainer: the batch loss is `settings.Combine` of the per-sample losses (eq. 3.2-3.3);
/// after an epoch, the main-task test accuracy in evaluation mode (main path only) on samples [M; T; ...], labels [M].
let method (model: AlSnn) (settings: Settings) (batchSize: int) (testSamples: Tensor, testLabels: Tensor) : Trainer.Method =
    checkSettings settings
    { BatchLoss = batchLossWith model settings settings.Combine
      Tasks = 1
      Hyper = None
      Evaluate = Some (fun () -> Training.evaluate model batchSize testSamples testLabels)
      AfterBackward = None }

/// Trains `model` by the one trainer on samples [N; T; ...] and labels [N] (main-task class indices), measuring the
/// main-task test accuracy after every epoch. The history's measures hold the main and auxiliary losses.
let train (model: AlSnn) (training: Training.TrainerSettings) (settings: Settings)
          (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
          (onEpoch: Training.HistoryEntry -> unit) (cancellation: Threading.CancellationToken) : Training.History =
    let source = Trainer.tensorSource training.BatchSize training.Seed (trainSamples, trainLabels)
    Trainer.run model training (method model settings training.BatchSize (testSamples, testLabels)) source ignore onEpoch cancellation

/// `train` without cancellation.
let fit (model: AlSnn) (training: Training.TrainerSettings) (settings: Settings)
        (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
        (onEpoch: Training.HistoryEntry -> unit) : Training.History =
    train model training settings (trainSamples, trainLabels) (testSamples, testLabels) onEpoch Threading.CancellationToken.None
