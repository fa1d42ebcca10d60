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
            use g = torch.tensor(gammas).``to`` auxPerSample.dtype
            let auxiliary = (auxPerSample * g).sum (1L)
            (mainPerSample * (1.0 - alpha) + auxiliary * alpha).mean ()

/// The main loss alone, L = (1/B) Σ_b l_M,b (a single-task SNN; auxiliary losses are ignored).
let mainOnly : Combiner = fun mainPerSample _ -> mainPerSample.mean ()

/// Per-sample losses of one batch: the model runs in its current mode (training mode gives the auxiliary heads),
/// the main loss is `loss` of the main votes against `labels` [B], and column i of the auxiliary losses is `loss`
/// of head i against `AuxiliaryTasks.relabel tasks.[i] labels`. Returns (main [B], auxiliary [B; K], the run's
/// outputs). In evaluation mode, or with no task, the auxiliary matrix is [B; 0].
let perSampleLosses (model: AlSnn) (tasks: AuxiliaryTasks.LabelMap[]) (loss: PerSampleLoss) (input: Tensor) (labels: Tensor)
                    : Tensor * Tensor * AlSnnOutput =
    if isNull (box model) then nullArg "model"
    if isNull tasks then nullArg "tasks"
    if tasks.Length <> model.AuxiliaryClassifiers.Length then
        invalidArg "tasks" $"has {tasks.Length} auxiliary tasks for a model with {model.AuxiliaryClassifiers.Length} auxiliary classifiers"
    tasks |> Array.iteri (fun i t ->
        AuxiliaryTasks.validate model.MainClasses t |> ignore
        if t.Classes <> model.AuxiliaryClassifiers.[i].Classes then
            invalidArg "tasks" $"task {i} ('{t.Name}') has {t.Classes} labels, its classifier has {model.AuxiliaryClassifiers.[i].Classes} outputs")
    let output = model.Run input
    let main = loss output.Main labels
    let batch = labels.shape.[0]
    let auxiliary =
        if output.Auxiliary.Length = 0 then torch.zeros ([| batch; 0L |], dtype = main.dtype)
        else
            let columns = Array.map2 (fun (t: AuxiliaryTasks.LabelMap) (votes: Tensor) -> loss votes (AuxiliaryTasks.relabel t labels)) tasks output.Auxiliary
            torch.stack (columns, 1L)
    main, auxiliary, output

/// Settings of an auxiliary-learning run.
[<NoEquality; NoComparison>]
type Settings =
    { /// Passes over the training set.
      Epochs: int
      /// Samples per optimisation step.
      BatchSize: int
      /// Adam learning rate.
      LearningRate: float
      /// Seed of the shuffling (weights and dropout masks follow `torch.manual_seed`, set by the caller).
      Seed: int
      /// The auxiliary tasks, one per auxiliary classifier of the model.
      Tasks: AuxiliaryTasks.LabelMap[]
      /// The per-sample loss of every head.
      Loss: PerSampleLoss
      /// The combination of per-sample main and auxiliary losses into the training loss.
      Combine: Combiner }

    /// 10 epochs, batches of 32, Adam at 1e-3, seed 0, no auxiliary task, per-sample cross-entropy on vote counts,
    /// main loss only.
    static member Default =
        { Epochs = 10; BatchSize = 32; LearningRate = 1e-3; Seed = 0; Tasks = [||]
          Loss = crossEntropyOnCounts; Combine = mainOnly }

/// One epoch of an auxiliary-learning run.
type EpochReport =
    { /// Epoch number, from 1.
      Epoch: int
      /// Mean combined training loss over the epoch's batches.
      TrainLoss: float
      /// Mean main-task per-sample loss over the epoch.
      MainLoss: float
      /// Mean per-sample loss of each auxiliary task over the epoch.
      AuxiliaryLosses: float[]
      /// Main-task training accuracy in [0, 1], measured while training.
      TrainAccuracy: float
      /// Main-task test accuracy in [0, 1] after the epoch (evaluation mode: main path only).
      TestAccuracy: float
      /// Wall-clock seconds since the run started.
      ElapsedSeconds: float }

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

/// One optimisation step in training mode: per-sample losses, `settings.Combine`, backward, optimiser step.
/// Input [T; B; ...], labels [B].
let step (model: AlSnn) (optimizer: torch.optim.Optimizer) (settings: Settings) (input: Tensor) (labels: Tensor) : StepResult =
    model.train ()
    optimizer.zero_grad ()
    let main, auxiliary, output = perSampleLosses model settings.Tasks settings.Loss input labels
    let loss = settings.Combine main auxiliary
    if isNull (box loss) || loss.numel () <> 1L then invalidOp "the Combine function must return a tensor with one element"
    if not loss.requires_grad then invalidOp "the combined loss has no gradient; Combine must use its arguments"
    Diff.backward loss
    optimizer.step () |> ignore
    use _ = torch.no_grad ()
    { Loss = loss.ToDouble ()
      MainLoss = main.mean().ToDouble ()
      AuxiliaryLosses = Array.init (int auxiliary.shape.[1]) (fun i -> auxiliary.select(1L, int64 i).mean().ToDouble ())
      Correct = Metrics.correct (Loss.spikeCounts (output.Main.detach ())) labels }

/// Trains `model` with Adam on samples [N; T; ...] and labels [N] (main-task class indices), shuffling by
/// `settings.Seed + epoch`; after every epoch measures the main-task test accuracy in evaluation mode (main path
/// only) on test samples [M; T; ...]. Calls `onEpoch` after each epoch and returns every report.
let fit (model: AlSnn) (settings: Settings) (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
        (onEpoch: EpochReport -> unit) : EpochReport list =
    if settings.Epochs <= 0 then invalidArg "Epochs" $"must be > 0, got {settings.Epochs}"
    if settings.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {settings.BatchSize}"
    if not (settings.LearningRate > 0.0) || Double.IsInfinity settings.LearningRate then
        invalidArg "LearningRate" $"must be a finite number > 0, got {settings.LearningRate}"
    if isNull (box settings.Loss) then nullArg "Loss"
    if isNull (box settings.Combine) then nullArg "Combine"
    let n = trainSamples.shape.[0]
    if n <> trainLabels.shape.[0] then invalidArg "trainLabels" $"has {trainLabels.shape.[0]} entries for {n} samples"
    let optimizer = torch.optim.Adam (model.parameters (), settings.LearningRate)
    let clock = Stopwatch.StartNew ()
    let batches = int ((n + int64 settings.BatchSize - 1L) / int64 settings.BatchSize)
    [ for epoch in 1 .. settings.Epochs do
        let order = Array.init (int n) int64
        Random(settings.Seed + epoch).Shuffle order
        let mutable lossSum, mainSum, hits = 0.0, 0.0, 0
        let auxSums = Array.zeroCreate<float> settings.Tasks.Length
        for b in 0 .. batches - 1 do
            use scope = torch.NewDisposeScope ()
            let indices = order.[b * settings.BatchSize .. min (int n) ((b + 1) * settings.BatchSize) - 1]
            use index = torch.tensor indices
            let labels = trainLabels.index_select (0L, index)
            let r = step model optimizer settings (Training.batchOf trainSamples indices) labels
            lossSum <- lossSum + r.Loss
            mainSum <- mainSum + r.MainLoss
            r.AuxiliaryLosses |> Array.iteri (fun i v -> auxSums.[i] <- auxSums.[i] + v)
            hits <- hits + r.Correct
        let report =
            { Epoch = epoch
              TrainLoss = lossSum / float batches
              MainLoss = mainSum / float batches
              AuxiliaryLosses = auxSums |> Array.map (fun s -> s / float batches)
              TrainAccuracy = float hits / float n
              TestAccuracy = Training.evaluate model settings.BatchSize testSamples testLabels
              ElapsedSeconds = clock.Elapsed.TotalSeconds }
        onEpoch report
        yield report ]
