/// Training and evaluation of spiking classifiers by surrogate-gradient backpropagation through time (BPTT).
[<RequireQualifiedAccess>]
module Snn.Training

open System
open System.Diagnostics
open System.IO
open System.Text.Json
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
let batchOf (samples: Tensor) (indices: int64[]) : Tensor =
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
    let clock = Stopwatch.StartNew ()
    let batches = int ((n + int64 settings.BatchSize - 1L) / int64 settings.BatchSize)
    [ for epoch in 1 .. settings.Epochs do
        model.train ()
        let order = Array.init (int n) int64
        Random(settings.Seed + epoch).Shuffle order
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

/// The optimiser of a `Trainer` run.
type OptimizerKind =
    /// Adam (Kingma & Ba 2015) with β = (0.9, 0.999).
    | Adam
    /// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay λ, θ ← θ - η λ θ at every step.
    | AdamW of weightDecay: float
    /// Stochastic gradient descent with momentum μ (heavy ball, or Nesterov when asked): v ← μ v + g, θ ← θ - η v.
    | Sgd of momentum: float * nesterov: bool

/// The learning rate η_e of epoch e (from 1) out of E, given the base rate η₀.
type LearningRateSchedule =
    /// η_e = η₀.
    | Constant
    /// Cosine annealing from η₀ to η_min over the run: η_e = η_min + (η₀ - η_min)(1 + cos(π (e - 1)/E))/2.
    | Cosine of minimum: float
    /// Step decay: η_e = η₀ γ^⌊(e - 1)/k⌋ (multiply by γ every k epochs).
    | StepDecay of every: int * factor: float

/// Learning-rate schedules as pure functions.
[<RequireQualifiedAccess>]
module Schedule =
    /// The learning rate of epoch `epoch` (1..epochs) under `schedule` with base rate `baseRate`.
    let learningRate (schedule: LearningRateSchedule) (baseRate: float) (epochs: int) (epoch: int) : float =
        if epochs <= 0 then invalidArg "epochs" $"must be > 0, got {epochs}"
        if epoch < 1 || epoch > epochs then invalidArg "epoch" $"must lie in [1, {epochs}], got {epoch}"
        match schedule with
        | Constant -> baseRate
        | Cosine minimum ->
            if not (minimum >= 0.0 && minimum <= baseRate) then invalidArg "minimum" $"must lie in [0, {baseRate}], got {minimum}"
            minimum + (baseRate - minimum) * (1.0 + Math.Cos (Math.PI * float (epoch - 1) / float epochs)) / 2.0
        | StepDecay (every, factor) ->
            if every <= 0 then invalidArg "every" $"must be > 0, got {every}"
            if not (factor > 0.0 && factor <= 1.0) then invalidArg "factor" $"must lie in (0, 1], got {factor}"
            baseRate * Math.Pow (factor, float ((epoch - 1) / every))

/// Settings of a `Trainer` run: the optimiser, schedule, loss, gradient clipping, early stopping and checkpoints.
[<NoEquality; NoComparison>]
type TrainerSettings =
    { /// Passes over the training set (the last epoch when resuming).
      Epochs: int
      /// Samples per optimisation step.
      BatchSize: int
      /// Base learning rate η₀.
      LearningRate: float
      /// Seed of shuffling; epoch e shuffles with seed + e, so a resumed run sees the same order.
      Seed: int
      /// The optimiser.
      Optimizer: OptimizerKind
      /// The learning-rate schedule, applied at the start of every epoch.
      Schedule: LearningRateSchedule
      /// The loss of the network's output [T; B; C] and the labels [B].
      Loss: Tensor -> Tensor -> Tensor
      /// Rescales the gradients so their global L2 norm is at most this value, when given.
      ClipGradientNorm: float option
      /// Stops when the test accuracy has not improved for this many epochs, when given.
      EarlyStoppingPatience: int option
      /// A directory for checkpoints (model, optimiser state, history), written after every epoch, when given.
      CheckpointDirectory: string option
      /// Continue from the checkpoint in `CheckpointDirectory` when there is one.
      Resume: bool }

    /// 10 epochs, batches of 64, Adam at 1e-3, constant schedule, cross-entropy on spike counts, no clipping,
    /// no early stopping, no checkpoints.
    static member Default =
        { Epochs = 10; BatchSize = 64; LearningRate = 1e-3; Seed = 0; Optimizer = Adam; Schedule = Constant
          Loss = Loss.crossEntropyOnCounts; ClipGradientNorm = None; EarlyStoppingPatience = None
          CheckpointDirectory = None; Resume = false }

/// One epoch of a `Trainer` run, as stored in the history JSON.
type HistoryEntry =
    { /// Epoch number, from 1.
      Epoch: int
      /// Learning rate used in the epoch.
      LearningRate: float
      /// Mean training loss over the epoch's batches.
      TrainLoss: float
      /// Training accuracy in [0, 1] (prediction = most output spikes), measured while training.
      TrainAccuracy: float
      /// Test accuracy in [0, 1] after the epoch.
      TestAccuracy: float
      /// Global gradient norm before clipping, averaged over the epoch's steps.
      GradientNorm: float
      /// Wall-clock seconds spent in this epoch.
      Seconds: float }

/// The outcome of a `Trainer` run.
type History =
    { /// Every epoch so far, including those of a resumed checkpoint.
      Entries: HistoryEntry[]
      /// The epoch with the best test accuracy (0 when none ran).
      BestEpoch: int
      /// Whether early stopping ended the run before `Epochs`.
      StoppedEarly: bool }

/// Training history as JSON (an array of `HistoryEntry`).
[<RequireQualifiedAccess>]
module HistoryJson =
    let private options = JsonSerializerOptions(WriteIndented = true)

    /// The entries as an indented JSON array.
    let serialize (entries: HistoryEntry[]) : string = JsonSerializer.Serialize (entries, options)

    /// Entries from a JSON array written by `serialize`.
    let deserialize (json: string) : HistoryEntry[] =
        if isNull json then nullArg "json"
        let entries = JsonSerializer.Deserialize<HistoryEntry[]> json
        if isNull entries then invalidArg "json" "holds no history array" else entries

/// Files written so that a reader never sees a half-written one: a temporary file beside the target, then a rename.
[<RequireQualifiedAccess>]
module AtomicFile =
    /// Writes the target by calling `write` on a temporary path in the same directory, then renames it over the
    /// target (replacing it). The temporary file is removed if `write` fails.
    let write (path: string) (write: string -> unit) : unit =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "must name a file"
        let full = Path.GetFullPath path
        let temporary = Path.Combine (Path.GetDirectoryName full, $".{Path.GetFileName full}.{Guid.NewGuid():N}.tmp")
        try
            write temporary
            File.Move (temporary, full, true)
        finally
            if File.Exists temporary then File.Delete temporary

/// Checkpoints of a `Trainer` run: `model.bin`, `optimizer.bin` and `history.json` in one directory. The
/// history is written last, so an epoch counts as saved only once all three files are in place.
[<RequireQualifiedAccess>]
module Checkpoint =
    /// The model weights file of a checkpoint directory.
    let modelPath (directory: string) = Path.Combine (directory, "model.bin")
    /// The optimiser state file of a checkpoint directory.
    let optimizerPath (directory: string) = Path.Combine (directory, "optimizer.bin")
    /// The history file of a checkpoint directory.
    let historyPath (directory: string) = Path.Combine (directory, "history.json")

    /// Whether the directory holds a complete checkpoint.
    let exists (directory: string) : bool =
        File.Exists (modelPath directory) && File.Exists (optimizerPath directory) && File.Exists (historyPath directory)

    /// Saves model, optimiser state and history, each atomically.
    let save (directory: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer) (entries: HistoryEntry[]) =
        Directory.CreateDirectory directory |> ignore
        AtomicFile.write (modelPath directory) (fun p -> model.save p |> ignore)
        match optimizer with
        | :? Modules.OptimizerHelper as o -> AtomicFile.write (optimizerPath directory) (fun p -> o.save_state_dict p)
        | _ -> invalidArg "optimizer" "cannot save the state of this optimizer type"
        AtomicFile.write (historyPath directory) (fun p -> File.WriteAllText (p, HistoryJson.serialize entries))

    /// Loads model and optimiser state in place and returns the saved history.
    let load (directory: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer) : HistoryEntry[] =
        if not (exists directory) then invalidArg "directory" $"holds no complete checkpoint: {directory}"
        model.load (modelPath directory) |> ignore
        match optimizer with
        | :? Modules.OptimizerHelper as o -> o.load_state_dict (optimizerPath directory)
        | _ -> invalidArg "optimizer" "cannot load the state of this optimizer type"
        HistoryJson.deserialize (File.ReadAllText (historyPath directory))

let private validateTrainer (s: TrainerSettings) =
    if s.Epochs <= 0 then invalidArg "Epochs" $"must be > 0, got {s.Epochs}"
    if s.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {s.BatchSize}"
    if not (s.LearningRate > 0.0) || Double.IsInfinity s.LearningRate then invalidArg "LearningRate" $"must be > 0, got {s.LearningRate}"
    if isNull (box s.Loss) then nullArg "Loss"
    match s.Optimizer with
    | AdamW decay when not (decay >= 0.0) -> invalidArg "Optimizer" $"AdamW weight decay must be >= 0, got {decay}"
    | Sgd (momentum, _) when not (momentum >= 0.0 && momentum < 1.0) -> invalidArg "Optimizer" $"SGD momentum must lie in [0, 1), got {momentum}"
    | _ -> ()
    match s.ClipGradientNorm with
    | Some n when not (n > 0.0) -> invalidArg "ClipGradientNorm" $"must be > 0, got {n}"
    | _ -> ()
    match s.EarlyStoppingPatience with
    | Some p when p <= 0 -> invalidArg "EarlyStoppingPatience" $"must be > 0, got {p}"
    | _ -> ()
    if s.Resume && s.CheckpointDirectory.IsNone then invalidArg "Resume" "needs a CheckpointDirectory"
    // Evaluate the schedule once so that bad parameters fail before any training.
    Schedule.learningRate s.Schedule s.LearningRate s.Epochs s.Epochs |> ignore

/// A fresh optimiser of the chosen kind over the model's parameters.
let createOptimizer (kind: OptimizerKind) (learningRate: float) (model: torch.nn.Module) : torch.optim.Optimizer =
    match kind with
    | Adam -> torch.optim.Adam (model.parameters (), learningRate)
    | AdamW decay -> torch.optim.AdamW (model.parameters (), learningRate, weight_decay = decay)
    | Sgd (momentum, nesterov) -> torch.optim.SGD (model.parameters (), learningRate, momentum = momentum, nesterov = nesterov)

/// The global L2 norm of the gradients, ‖g‖ = √(Σ_p ‖∂L/∂p‖²), measured before clipping; with a bound c and
/// ‖g‖ > c every gradient is scaled by c/‖g‖ so the clipped norm is c.
let clipGradients (maxNorm: float option) (model: torch.nn.Module) : float =
    use _ = torch.no_grad ()
    let grads =
        model.parameters ()
        |> Seq.choose (fun p -> let g = p.grad in if isNull (box g) || g.Handle = IntPtr.Zero then None else Some g)
        |> Seq.toArray
    let norm = grads |> Array.sumBy (fun g -> use s = g.square().sum () in s.ToDouble ()) |> sqrt
    match maxNorm with
    | Some c when norm > c ->
        for g in grads do g.mul_ (torch.tensor (c / norm, dtype = g.dtype)) |> ignore
    | _ -> ()
    norm

let private setLearningRate (optimizer: torch.optim.Optimizer) (rate: float) =
    for group in optimizer.ParamGroups do group.LearningRate <- rate

/// Where a `Trainer` run gets its data: the batches of each epoch (time-first inputs [T; B; ...] and labels [B],
/// already in the epoch's order) and the test accuracy after an epoch. `Training.train` builds one from tensors,
/// `DatasetTraining.train` from the `Snn.Data.Dataset` API.
[<NoEquality; NoComparison>]
type BatchSource =
    { /// Training samples per epoch (the denominator of the training accuracy).
      Samples: int
      /// Batches per epoch (for progress reports).
      BatchesPerEpoch: int
      /// The batches of epoch e (from 1). Each pair is disposed after its optimisation step.
      Epoch: int -> seq<Tensor * Tensor>
      /// Test accuracy in [0, 1] of the model after an epoch (called in evaluation mode by the source).
      TestAccuracy: unit -> float }

/// Surrogate-gradient BPTT training over any `BatchSource`: each epoch sets the scheduled learning rate and, per
/// batch: zero grads, forward, loss, backward, clip, step; then the test accuracy. Checkpoints are saved after
/// every epoch when a directory is given; with `Resume` a run continues after the last saved epoch. `onBatch`
/// sees (epoch, batches done, batches per epoch, running mean loss), `onEpoch` each new entry; `cancellation` is
/// checked before every batch.
let trainFrom (model: torch.nn.Module<Tensor, Tensor>) (settings: TrainerSettings) (source: BatchSource)
              (onBatch: BatchProgress -> unit) (onEpoch: HistoryEntry -> unit)
              (cancellation: Threading.CancellationToken) : History =
    validateTrainer settings
    if source.Samples <= 0 then invalidArg "source" "holds no training samples"
    use optimizer = createOptimizer settings.Optimizer settings.LearningRate model
    let previous =
        match settings.CheckpointDirectory with
        | Some dir when settings.Resume && Checkpoint.exists dir -> Checkpoint.load dir model optimizer
        | _ -> [||]
    let entries = ResizeArray<HistoryEntry> previous
    let best () = if entries.Count = 0 then 0 else (entries |> Seq.maxBy (fun e -> e.TestAccuracy, -e.Epoch)).Epoch
    let patienceExhausted () =
        match settings.EarlyStoppingPatience with
        | Some patience when entries.Count > 0 -> entries.[entries.Count - 1].Epoch - best () >= patience
        | _ -> false
    let mutable stopped = patienceExhausted ()
    let mutable epoch = entries.Count + 1
    while not stopped && epoch <= settings.Epochs do
        let clock = Stopwatch.StartNew ()
        let rate = Schedule.learningRate settings.Schedule settings.LearningRate settings.Epochs epoch
        setLearningRate optimizer rate
        model.train ()
        let mutable lossSum = 0.0
        let mutable normSum = 0.0
        let mutable hits = 0
        let mutable batches = 0
        use enumerator = (source.Epoch epoch).GetEnumerator ()
        let mutable more = true
        while more do
            cancellation.ThrowIfCancellationRequested ()
            use scope = torch.NewDisposeScope ()
            // The batch is produced inside the scope, so tensors the source creates on this thread are freed with it.
            more <- enumerator.MoveNext ()
            if more then
                let inputs, labels = enumerator.Current
                try
                    optimizer.zero_grad ()
                    let output = model.forward inputs
                    let loss = settings.Loss output labels
                    if isNull (box loss) || loss.numel () <> 1L then invalidOp "the Loss function must return a scalar tensor"
                    Diff.backward loss
                    normSum <- normSum + clipGradients settings.ClipGradientNorm model
                    optimizer.step () |> ignore
                    lossSum <- lossSum + loss.ToDouble ()
                    hits <- hits + Metrics.correct (Loss.spikeCounts (output.detach ())) labels
                    batches <- batches + 1
                    onBatch (epoch, batches, source.BatchesPerEpoch, lossSum / float batches)
                finally
                    // A prefetching source builds batches on another thread, outside this scope.
                    inputs.Dispose ()
                    labels.Dispose ()
        if batches = 0 then invalidOp $"the batch source gave no batches in epoch {epoch}"
        let entry =
            { Epoch = epoch; LearningRate = rate; TrainLoss = lossSum / float batches
              TrainAccuracy = float hits / float source.Samples
              TestAccuracy = source.TestAccuracy ()
              GradientNorm = normSum / float batches; Seconds = clock.Elapsed.TotalSeconds }
        entries.Add entry
        settings.CheckpointDirectory |> Option.iter (fun dir -> Checkpoint.save dir model optimizer (entries.ToArray ()))
        onEpoch entry
        stopped <- patienceExhausted ()
        epoch <- epoch + 1
    { Entries = entries.ToArray (); BestEpoch = best (); StoppedEarly = stopped && entries.Count < settings.Epochs }

/// The `BatchSource` of samples [N; T; ...] with labels [N]: epoch e shuffles with seed + e (so a resumed run sees
/// the same order) and cuts batches of `BatchSize`; the test split is scored with `Training.evaluate`.
let tensorSource (model: torch.nn.Module<Tensor, Tensor>) (settings: TrainerSettings)
                 (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor) : BatchSource =
    if settings.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {settings.BatchSize}"
    let n = trainSamples.shape.[0]
    if n = 0L then invalidArg "trainSamples" "is empty"
    if n <> trainLabels.shape.[0] then invalidArg "trainLabels" $"has {trainLabels.shape.[0]} entries for {n} samples"
    let batches = int ((n + int64 settings.BatchSize - 1L) / int64 settings.BatchSize)
    { Samples = int n
      BatchesPerEpoch = batches
      Epoch = fun epoch ->
        let order = Array.init (int n) int64
        Random(settings.Seed + epoch).Shuffle order
        seq {
            for b in 0 .. batches - 1 do
                let indices = order.[b * settings.BatchSize .. min (int n) ((b + 1) * settings.BatchSize) - 1]
                use index = torch.tensor indices
                yield batchOf trainSamples indices, trainLabels.index_select (0L, index) }
      TestAccuracy = fun () -> evaluate model settings.BatchSize testSamples testLabels }

/// Surrogate-gradient BPTT training with a choice of optimiser, schedule, loss, clipping, early stopping and
/// resumable checkpoints: trains `model` (output [T; B; C]) on samples [N; T; ...] with labels [N], evaluating the test split after
/// every epoch (accuracy by most output spikes, `Training.evaluate`). Each epoch: set the scheduled learning
/// rate, shuffle with seed + epoch, and per batch: zero grads, forward, loss, backward, clip, step.
/// Checkpoints are saved after every epoch when a directory is given; with `Resume` a run continues after the
/// last saved epoch. `onEpoch` sees each new entry; `cancellation` is checked before every batch.
let train (model: torch.nn.Module<Tensor, Tensor>) (settings: TrainerSettings)
          (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
          (onEpoch: HistoryEntry -> unit) (cancellation: Threading.CancellationToken) : History =
    validateTrainer settings
    let source = tensorSource model settings (trainSamples, trainLabels) (testSamples, testLabels)
    trainFrom model settings source ignore onEpoch cancellation

/// `train` with a report after every batch: (epoch, batches done, batches per epoch, running mean loss).
let trainWithProgress (model: torch.nn.Module<Tensor, Tensor>) (settings: TrainerSettings)
                      (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
                      (onBatch: BatchProgress -> unit) (onEpoch: HistoryEntry -> unit)
                      (cancellation: Threading.CancellationToken) : History =
    validateTrainer settings
    let source = tensorSource model settings (trainSamples, trainLabels) (testSamples, testLabels)
    trainFrom model settings source onBatch onEpoch cancellation
