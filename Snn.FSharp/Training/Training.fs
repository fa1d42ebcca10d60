/// Training and evaluation of spiking classifiers by surrogate-gradient backpropagation through time (BPTT).
[<RequireQualifiedAccess>]
module Snn.Training

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open TorchSharp
open Snn.Tensors

/// Progress inside an epoch: (epoch, batches done, batches in the epoch, running mean loss).
type BatchProgress = int * int * int * float

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

/// A named value a training method measures per batch (e.g. "main loss").
type Measure =
    { /// What was measured.
      Name: string
      /// Its value (in a history entry: its mean over the epoch's batches that measured it).
      Value: float }

/// One hyper step of a bilevel method (a learned loss combiner, learned thresholds).
type HyperStepRecord =
    { /// The epoch it was taken in, from 1.
      Epoch: int
      /// The outer loss L_V on the held-out batch.
      OuterLoss: float
      /// The Euclidean norm of the hypergradient dL_V/dφ.
      HypergradientNorm: float }

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
      Seconds: float
      /// Batches trained per task in this epoch (multi-task methods; one entry for single-task ones).
      BatchesPerTask: int[]
      /// What a method measures beyond the loss (e.g. the main and auxiliary losses of AL-SNN), each the mean over
      /// the epoch's batches that measured it (a per-task measure over that task's batches).
      Measures: Measure[] }

/// The outcome of a `Trainer` run.
type History =
    { /// Every epoch so far, including those of a resumed checkpoint.
      Entries: HistoryEntry[]
      /// The epoch with the best test accuracy (0 when none ran).
      BestEpoch: int
      /// Whether early stopping ended the run before `Epochs`.
      StoppedEarly: bool
      /// The hyper steps of this run (not of a resumed checkpoint), in order; empty for single-level methods.
      HyperSteps: HyperStepRecord[] }

/// Training history as JSON (an array of `HistoryEntry`).
[<RequireQualifiedAccess>]
module HistoryJson =
    // NaN stands for "not measured" (a method without a test split).
    let private options = JsonSerializerOptions(WriteIndented = true, NumberHandling = Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)

    /// The entries as an indented JSON array.
    let serialize (entries: HistoryEntry[]) : string = JsonSerializer.Serialize (entries, options)

    /// Entries from a JSON array written by `serialize`.
    let deserialize (json: string) : HistoryEntry[] =
        if isNull json then nullArg "json"
        let entries = JsonSerializer.Deserialize<HistoryEntry[]> (json, options)
        if isNull entries then invalidArg "json" "holds no history array"
        // Histories written before an entry had these fields read them as null.
        entries |> Array.map (fun e ->
            { e with BatchesPerTask = (if isNull e.BatchesPerTask then [||] else e.BatchesPerTask)
                     Measures = (if isNull e.Measures then [||] else e.Measures) })

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

    /// The file of the global random generator's state (dropout masks, noisy surrogates) in a checkpoint directory.
    let randomStatePath (directory: string) = Path.Combine (directory, "random.bin")

    /// Saves the state of torch's global CPU generator, so a resumed run draws the same dropout masks.
    let saveRandomState (directory: string) : unit =
        use state = torch.get_rng_state ()
        let bytes = state.data<byte>().ToArray ()
        AtomicFile.write (randomStatePath directory) (fun p -> File.WriteAllBytes (p, bytes))

    /// Restores the generator state saved by `saveRandomState`, when the checkpoint has one.
    let loadRandomState (directory: string) : unit =
        let path = randomStatePath directory
        if File.Exists path then
            use state = torch.tensor (File.ReadAllBytes path)
            torch.set_rng_state state

    /// Loads model and optimiser state in place and returns the saved history.
    let load (directory: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer) : HistoryEntry[] =
        if not (exists directory) then invalidArg "directory" $"holds no complete checkpoint: {directory}"
        model.load (modelPath directory) |> ignore
        match optimizer with
        | :? Modules.OptimizerHelper as o -> o.load_state_dict (optimizerPath directory)
        | _ -> invalidArg "optimizer" "cannot load the state of this optimizer type"
        HistoryJson.deserialize (File.ReadAllText (historyPath directory))

/// Checks every field of the settings, naming the field at fault.
let validateTrainer (s: TrainerSettings) =
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

/// Sets the learning rate of every parameter group.
let setLearningRate (optimizer: torch.optim.Optimizer) (rate: float) =
    for group in optimizer.ParamGroups do group.LearningRate <- rate
