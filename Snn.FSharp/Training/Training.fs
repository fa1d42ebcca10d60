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

/// Accuracy of `model` (output spikes [T; B; C], prediction = most spikes) on samples [N; T; ...] with labels [N]
/// (`Inference.evaluate`).
let evaluate (model: torch.nn.Module<Tensor, Tensor>) (batchSize: int) (samples: Tensor) (labels: Tensor) : float =
    (Inference.evaluate model batchSize samples labels).Accuracy

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
      Resume: bool
      /// How a fresh network's weights are prepared before the first epoch (never on resume). Classifier runs
      /// (`Trainer.train`, `DatasetTraining.train`) calibrate chain models (`Modules.ILayerChain`) on the first 256
      /// training samples.
      Calibration: Modules.Calibration
      /// Receives the run's one-line notes: what the calibration scaled, and warnings (a layer that fired no spike
      /// in an epoch, a training loss stuck at ln C).
      Log: string -> unit }

    /// 10 epochs, batches of 64, Adam at 1e-3, constant schedule, cross-entropy on spike counts, no clipping,
    /// no early stopping, no checkpoints; silent layers calibrated to 0.02 spikes per neuron and step (`Trainer.calibrate`); notes to
    /// standard error.
    static member Default =
        { Epochs = 10; BatchSize = 64; LearningRate = 1e-3; Seed = 0; Optimizer = Adam; Schedule = Constant
          Loss = Loss.crossEntropyOnCounts; ClipGradientNorm = None; EarlyStoppingPatience = None
          CheckpointDirectory = None; Resume = false
          Calibration = Modules.SilentLayers 0.02; Log = fun line -> eprintfn "snn: %s" line }

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

/// Training history as JSON (an array of `HistoryEntry`), with snake_case names like every file Snn writes
/// (`train_loss`, `batches_per_task`); histories written before (PascalCase names, `TrainLoss`) are still read.
[<RequireQualifiedAccess>]
module HistoryJson =
    // NaN stands for "not measured" (a method without a test split).
    let private options (naming: JsonNamingPolicy) =
        JsonSerializerOptions (WriteIndented = true, PropertyNamingPolicy = naming,
                               NumberHandling = Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)
    let private snakeCase = options JsonNamingPolicy.SnakeCaseLower
    let private pascalCase = options null

    /// The entries as an indented JSON array with snake_case names.
    let serialize (entries: HistoryEntry[]) : string = JsonSerializer.Serialize (entries, snakeCase)

    /// Entries from a JSON array written by `serialize`, or by the versions before it (PascalCase names).
    let deserialize (json: string) : HistoryEntry[] =
        if isNull json then nullArg "json"
        // The first entry's names tell the two forms apart: "epoch" now, "Epoch" before.
        let older =
            use document = JsonDocument.Parse json
            let root = document.RootElement
            root.ValueKind = JsonValueKind.Array && root.GetArrayLength () > 0 && root.[0].ValueKind = JsonValueKind.Object
            && (root.[0].EnumerateObject () |> Seq.exists (fun p -> p.Name = "Epoch"))
        let entries = JsonSerializer.Deserialize<HistoryEntry[]> (json, (if older then pascalCase else snakeCase))
        if isNull entries then invalidArg "json" "holds no history array"
        // Histories written before an entry had these fields read them as null.
        entries |> Array.map (fun e ->
            { e with BatchesPerTask = (if isNull e.BatchesPerTask then [||] else e.BatchesPerTask)
                     Measures = (if isNull e.Measures then [||] else e.Measures) })

/// The manifest of one checkpoint file: its name, length and SHA-256 (lower-case hex).
type CheckpointFile =
    { /// The file name inside the checkpoint folder.
      File: string
      /// Its length in bytes.
      Bytes: int64
      /// Its SHA-256, lower-case hex.
      Sha256: string }

/// The manifest of a checkpoint folder, written last: its presence makes the folder a complete checkpoint.
type CheckpointManifest =
    { /// The last epoch the checkpoint holds.
      Epoch: int
      /// Every file of the checkpoint.
      Files: CheckpointFile[] }

/// Checkpoints of a `Trainer` run. A checkpoint is whole or absent: each epoch is written into a temporary folder
/// `.partial-*` of the checkpoint directory (`model.bin`, `optimizer.bin`, `history.json`), every file is flushed to
/// the disk, then `manifest.json` (length and SHA-256 of each file) is written last and the folder is renamed to
/// `epoch-NNNNNN`. Only then are older epoch folders removed, so a kill at any point leaves the previous complete
/// checkpoint. Readers take the newest folder with a manifest, verify every file against it and refuse damaged files
/// with an `InvalidDataException` naming the file.
[<RequireQualifiedAccess>]
module Checkpoint =
    /// The model weights file of a checkpoint folder.
    let modelPath (folder: string) = Path.Combine (folder, "model.bin")
    /// The optimiser state file of a checkpoint folder.
    let optimizerPath (folder: string) = Path.Combine (folder, "optimizer.bin")
    /// The history file of a checkpoint folder.
    let historyPath (folder: string) = Path.Combine (folder, "history.json")
    /// The manifest of a checkpoint folder (written last).
    let manifestPath (folder: string) = Path.Combine (folder, "manifest.json")

    let private epochPrefix = "epoch-"
    let private partialPrefix = ".partial-"

    /// The complete-or-incomplete epoch folders of a checkpoint directory, newest first.
    let private epochFolders (directory: string) : (int * string)[] =
        if not (Directory.Exists directory) then [||]
        else
            Directory.GetDirectories (directory, epochPrefix + "*")
            |> Array.choose (fun d ->
                match Int32.TryParse ((Path.GetFileName d).Substring epochPrefix.Length) with
                | true, n -> Some (n, d)
                | _ -> None)
            |> Array.sortByDescending fst

    /// Removes what an interrupted save left behind: `.partial-*` folders and the temporaries of `AtomicFile`.
    let cleanStale (directory: string) : unit =
        if Directory.Exists directory then
            for d in Directory.GetDirectories (directory, partialPrefix + "*") do Directory.Delete (d, true)
            for f in Directory.GetFiles (directory, ".*.tmp") do File.Delete f

    let private sha256 (path: string) : string =
        use stream = File.OpenRead path
        Convert.ToHexString(Security.Cryptography.SHA256.HashData stream).ToLowerInvariant ()

    let private describe (folder: string) (name: string) : CheckpointFile =
        let path = Path.Combine (folder, name)
        AtomicFile.flushToDisk path
        { File = name; Bytes = FileInfo(path).Length; Sha256 = sha256 path }

    /// Reads and checks a manifest: every listed file must exist with the listed length and SHA-256.
    let private verify (folder: string) : CheckpointManifest =
        let path = manifestPath folder
        let manifest =
            // Case-insensitive: manifests written before the snake_case names ("Epoch", "Sha256") read the same.
            try JsonSerializer.Deserialize<CheckpointManifest> (File.ReadAllText path, JsonSerializerOptions (PropertyNameCaseInsensitive = true))
            with :? JsonException as e -> raise (InvalidDataException ($"{path}: not a checkpoint manifest ({e.Message})"))
        if isNull (box manifest) || isNull manifest.Files then raise (InvalidDataException ($"{path}: not a checkpoint manifest"))
        for name in [ "model.bin"; "optimizer.bin"; "history.json" ] do
            if not (manifest.Files |> Array.exists (fun f -> not (isNull (box f)) && f.File = name)) then
                raise (InvalidDataException ($"{path}: lists no {name}; the checkpoint cannot be resumed"))
        for f in manifest.Files do
            let file = Path.Combine (folder, Path.GetFileName f.File)
            if not (File.Exists file) then
                raise (InvalidDataException ($"{file}: missing from the checkpoint (the manifest lists it); refusing to start over and overwrite the checkpoint"))
            let length = FileInfo(file).Length
            if length <> f.Bytes then
                raise (InvalidDataException ($"{file}: byte {length}: the file is truncated or extended, the manifest says {f.Bytes} bytes"))
            if sha256 file <> f.Sha256 then
                raise (InvalidDataException ($"{file}: the SHA-256 differs from the manifest's; the checkpoint file is corrupted"))
        manifest

    /// The folder of the newest complete checkpoint in a directory, verified against its manifest; None when the
    /// directory holds none. Epoch folders without a manifest are unfinished saves and are skipped. A directory in the
    /// older flat layout (the three files directly inside) counts when all three are there; a partial one is refused
    /// rather than silently restarted (which would overwrite the model).
    let latest (directory: string) : string option =
        match epochFolders directory |> Array.tryFind (fun (_, d) -> File.Exists (manifestPath d)) with
        | Some (_, folder) ->
            verify folder |> ignore
            Some folder
        | None ->
            let present = [ modelPath directory; optimizerPath directory; historyPath directory ] |> List.filter File.Exists
            match present.Length with
            | 0 -> None
            | 3 -> Some directory
            | _ ->
                let missing = [ modelPath directory; optimizerPath directory; historyPath directory ] |> List.except present
                raise (InvalidDataException ($"{directory}: holds {Path.GetFileName present.Head} but no {Path.GetFileName missing.Head}; refusing to start over and overwrite the checkpoint"))

    /// Whether the directory holds a complete, undamaged checkpoint.
    let exists (directory: string) : bool =
        try (latest directory).IsSome with :? InvalidDataException -> false

    /// Saves model, optimiser state and history as one checkpoint folder (see the module comment for the protocol),
    /// with `extras` (file name, writer) written into the same folder and listed in the same manifest, so they are
    /// whole or absent with the rest (e.g. the random generator's state, a bilevel method's hyperparameters).
    let saveWith (extras: (string * (string -> unit)) list) (directory: string) (model: torch.nn.Module)
                 (optimizer: torch.optim.Optimizer) (entries: HistoryEntry[]) =
        let saveState =
            match optimizer with
            | :? Modules.OptimizerHelper as o -> fun (p: string) -> o.save_state_dict p
            | _ -> invalidArg "optimizer" "cannot save the state of this optimizer type"
        Directory.CreateDirectory directory |> ignore
        cleanStale directory
        let epoch = if entries.Length = 0 then 0 else (Array.last entries).Epoch
        let staging = Path.Combine (directory, $"{partialPrefix}{Guid.NewGuid():N}")
        Directory.CreateDirectory staging |> ignore
        try
            model.save (modelPath staging) |> ignore
            saveState (optimizerPath staging)
            File.WriteAllText (historyPath staging, HistoryJson.serialize entries)
            for name, write in extras do write (Path.Combine (staging, name))
            let files = Array.append [| "model.bin"; "optimizer.bin"; "history.json" |] (extras |> List.map fst |> Array.ofList) |> Array.map (describe staging)
            File.WriteAllText (manifestPath staging, JsonSerializer.Serialize ({ Epoch = epoch; Files = files }, JsonSerializerOptions (WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower)))
            AtomicFile.flushToDisk (manifestPath staging)
            AtomicFile.flushFolder staging
            let target = Path.Combine (directory, $"{epochPrefix}{epoch:D6}")
            // A folder of the same epoch (from an earlier run) is first moved aside under a stale name.
            if Directory.Exists target then Directory.Move (target, Path.Combine (directory, $"{partialPrefix}old-{Guid.NewGuid():N}"))
            Directory.Move (staging, target)
            AtomicFile.flushFolder directory
        finally
            if Directory.Exists staging then Directory.Delete (staging, true)
        // The new checkpoint is whole: only now do the older ones go.
        for n, d in epochFolders directory do
            if n <> epoch then Directory.Delete (d, true)
        cleanStale directory

    /// Saves model, optimiser state and history as one checkpoint folder (`saveWith` without extra files).
    let save (directory: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer) (entries: HistoryEntry[]) =
        saveWith [] directory model optimizer entries

    /// The path of extra file `name` in the newest complete checkpoint of a directory, when it holds one.
    let extraFile (directory: string) (name: string) : string option =
        latest directory |> Option.map (fun folder -> Path.Combine (folder, name)) |> Option.filter File.Exists

    /// The extra file of the random generator's state (dropout masks, noisy surrogates).
    let randomStateFile = "random.bin"

    /// Writes the state of torch's global CPU generator to `path`, so a resumed run draws the same dropout masks.
    let writeRandomState (path: string) : unit =
        use state = torch.get_rng_state ()
        File.WriteAllBytes (path, state.data<byte>().ToArray ())

    /// Restores the generator state saved in the newest checkpoint of a directory, when it has one.
    let loadRandomState (directory: string) : unit =
        match extraFile directory randomStateFile with
        | Some path ->
            use state = torch.tensor (File.ReadAllBytes path)
            torch.set_rng_state state
        | None -> ()

    /// Runs a reader of a checkpoint file, turning any failure into one line naming the file.
    let private reading (path: string) (read: unit -> 'T) : 'T =
        try read ()
        with
        | :? InvalidDataException -> reraise ()
        | e ->
            let first = e.Message.Split('\n').[0].Trim ()
            raise (InvalidDataException ($"{path}: not a readable checkpoint file ({first})", e))

    /// The history of the newest complete checkpoint in a directory (empty when there is none).
    let readHistory (directory: string) : HistoryEntry[] =
        match latest directory with
        | None -> [||]
        | Some folder -> reading (historyPath folder) (fun () -> HistoryJson.deserialize (File.ReadAllText (historyPath folder)))

    /// Loads model and optimiser state of the newest complete checkpoint in place and returns the saved history.
    let load (directory: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer) : HistoryEntry[] =
        let folder =
            match latest directory with
            | Some f -> f
            | None -> invalidArg "directory" $"holds no complete checkpoint: {directory}"
        let history = reading (historyPath folder) (fun () -> HistoryJson.deserialize (File.ReadAllText (historyPath folder)))
        if File.Exists (manifestPath folder) then
            let epoch = (verify folder).Epoch
            let last = if history.Length = 0 then 0 else (Array.last history).Epoch
            if last <> epoch then
                raise (InvalidDataException ($"{historyPath folder}: ends at epoch {last}, the manifest says epoch {epoch}"))
        reading (modelPath folder) (fun () -> model.load (modelPath folder) |> ignore)
        match optimizer with
        | :? Modules.OptimizerHelper as o -> reading (optimizerPath folder) (fun () -> o.load_state_dict (optimizerPath folder))
        | _ -> invalidArg "optimizer" "cannot load the state of this optimizer type"
        history

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
    match s.Calibration with
    | Modules.SilentLayers rate | Modules.EveryLayer rate when not (rate > 0.0 && rate < 1.0) ->
        invalidArg "Calibration" $"the target firing rate must lie in (0, 1), got {rate}"
    | _ -> ()
    if isNull (box s.Log) then nullArg "Log"
    // Evaluate the schedule once so that bad parameters fail before any training.
    Schedule.learningRate s.Schedule s.LearningRate s.Epochs s.Epochs |> ignore

/// A fresh optimiser of the chosen kind over the model's parameters. Adam and AdamW are TorchSharp's with the fused
/// step of `FusedAdam.fs` (the same bits in one pass per parameter).
let createOptimizer (kind: OptimizerKind) (learningRate: float) (model: torch.nn.Module) : torch.optim.Optimizer =
    match kind with
    | Adam -> new FusedAdam (model.parameters (), learningRate)
    | AdamW decay -> new FusedAdamW (model.parameters (), learningRate, weightDecay = decay)
    | Sgd (momentum, nesterov) -> torch.optim.SGD (model.parameters (), learningRate, momentum = momentum, nesterov = nesterov)

/// The global L2 norm of the gradients, ‖g‖ = √(Σ_p ‖∂L/∂p‖²), measured before clipping; with a bound c and
/// ‖g‖ > c every gradient is scaled by c/‖g‖ so the clipped norm is c.
let clipGradients (maxNorm: float option) (model: torch.nn.Module) : float =
    use _ = torch.no_grad ()
    let grads =
        model.parameters ()
        |> Seq.choose (fun p -> let g = p.grad in if isNull (box g) || g.Handle = IntPtr.Zero then None else Some g)
        |> Seq.toArray
    // g * g, not g.square (): TorchSharp runs square as pow with a temporary Scalar 2, which a collection on another
    // thread can finalize while libtorch still reads it ("Unknown scalar type", seen in sparse training runs).
    let norm = grads |> Array.sumBy (fun g -> use squares = g * g in use s = squares.sum () in s.ToDouble ()) |> sqrt
    match maxNorm with
    | Some c when norm > c ->
        for g in grads do g.mul_ (torch.tensor (c / norm, dtype = g.dtype, device = g.device)) |> ignore
    | _ -> ()
    norm

/// Sets the learning rate of every parameter group.
let setLearningRate (optimizer: torch.optim.Optimizer) (rate: float) =
    for group in optimizer.ParamGroups do group.LearningRate <- rate
