/// The configuration of a training run (what `snn train` does): data sizes, model, neuron, optimiser, schedule,
/// clipping, early stopping, seed and checkpoints, as a `Config` schema and its translation to
/// `Training.TrainerSettings`.
[<RequireQualifiedAccess>]
module Snn.TrainConfig

open System
open Snn.Neurons

let private key name kind optional value description =
    { Key = name; Kind = kind; Optional = optional; Default = value; Description = description }

/// The trainer's default target firing rate of a calibrated layer (`Training.TrainerSettings.Default`).
let private defaultCalibrationRate =
    match Training.TrainerSettings.Default.Calibration with
    | Modules.SilentLayers rate | Modules.EveryLayer rate -> rate
    | Modules.NoCalibration -> invalidOp "TrainerSettings.Default calibrates, so it names a rate"

/// The keys of a training configuration, their kinds, defaults and meaning.
let schema : ConfigKey[] =
    [| key "epochs" IntegerKind false (Integer 12L) "passes over the training set"
       key "batch_size" IntegerKind false (Integer 32L) "samples per optimisation step"
       key "seed" IntegerKind false (Integer 0L) "seed of data, weights and shuffling"
       key "threads" IntegerKind true Null "intra-op threads (null: all cores)"
       key "data.dataset" (ChoiceKind [| "moving-patterns"; "event-fashion-mnist"; "event-mnist" |]) false (Text "moving-patterns") "training data: the built-in synthetic event set, Fashion-MNIST's IDX files turned into events by the DVS emulator, or EventMnist (real MNIST digits recorded N-MNIST's way)"
       key "data.folder" TextKind true Null "folder of the Fashion-MNIST IDX files (null: the Debian package's folder)"
       key "data.train_samples" IntegerKind false (Integer 3000L) "training samples"
       key "data.test_samples" IntegerKind false (Integer 1000L) "test samples"
       key "data.frames" IntegerKind false (Integer 20L) "time steps T per sample"
       key "model.hidden" IntegerKind false (Integer 128L) "hidden neurons"
       key "model.weight_gain" RealKind false (Real 4.0) "scale of the default weight initialisation"
       key "model.kernel" (ChoiceKind [| "fused"; "reference" |]) false (Text "fused") "how the neuron recurrence runs"
       key "neuron.tau_mem" RealKind false (Real 20.0) "membrane time constant in ms"
       key "neuron.threshold" RealKind false (Real 1.0) "firing threshold"
       key "neuron.reset" (ChoiceKind [| "hard"; "soft"; "none" |]) false (Text "hard") "reset after a spike"
       key "optimizer.name" (ChoiceKind [| "adam"; "adamw"; "sgd" |]) false (Text "adam") "the optimiser"
       key "optimizer.lr" RealKind false (Real 5e-3) "base learning rate"
       key "optimizer.weight_decay" RealKind false (Real 0.01) "AdamW decoupled weight decay"
       key "optimizer.momentum" RealKind false (Real 0.9) "SGD momentum"
       key "optimizer.nesterov" BooleanKind false (ConfigValue.Boolean false) "SGD with Nesterov momentum"
       key "schedule.name" (ChoiceKind [| "constant"; "cosine"; "step" |]) false (Text "constant") "learning-rate schedule"
       key "schedule.min_lr" RealKind false (Real 0.0) "cosine: the final learning rate"
       key "schedule.every" IntegerKind false (Integer 10L) "step: epochs between decays"
       key "schedule.factor" RealKind false (Real 0.5) "step: factor of each decay"
       key "clip_grad_norm" RealKind true Null "bound of the global gradient L2 norm (null: no clipping)"
       key "early_stopping.patience" IntegerKind true Null "epochs without a better test accuracy before stopping (null: never)"
       key "checkpoint.dir" TextKind true Null "directory of the per-epoch checkpoint (null: none)"
       key "checkpoint.resume" BooleanKind false (ConfigValue.Boolean false) "continue from the checkpoint in checkpoint.dir"
       key "calibration.mode" (ChoiceKind [| "silent-layers"; "every-layer"; "none" |]) false (Text "silent-layers") "how a fresh network's weights are scaled before the first epoch: silent layers only, every layer (LSUV), or not at all"
       key "calibration.rate" RealKind false (Real defaultCalibrationRate) "target firing rate of a calibrated layer, spikes per neuron and step in (0, 1)" |]

// The TrainerSettings fields and the configuration keys they come from, to name the key in range errors.
let private keyOfSetting =
    dict [ "Epochs", "epochs"; "BatchSize", "batch_size"; "LearningRate", "optimizer.lr"; "ClipGradientNorm", "clip_grad_norm"
           "EarlyStoppingPatience", "early_stopping.patience"; "Resume", "checkpoint.resume"; "minimum", "schedule.min_lr"
           "every", "schedule.every"; "factor", "schedule.factor"; "Calibration", "calibration.rate" ]

// The same range error, naming the configuration key and where its value came from.
let private renamed (config: Map<string, ConfigEntry>) (e: ArgumentException) (key: string) : exn =
    let suffix = " (Parameter '" + e.ParamName + "')"
    let message = e.Message.Replace (suffix, "")
    let source = Config.sourceOf config key
    ArgumentException ($"{source}: key '{key}' {message}", key, e)

/// The trainer settings of an effective configuration (see `Config.resolve schema`), with the loss
/// cross-entropy on spike counts. Values out of range raise an ArgumentException naming the key and its source.
let trainerSettings (config: Map<string, ConfigEntry>) : Training.TrainerSettings =
    let optimizer =
        match Config.text config "optimizer.name" with
        | "adamw" -> Training.AdamW (Config.real config "optimizer.weight_decay")
        | "sgd" -> Training.Sgd (Config.real config "optimizer.momentum", Config.boolean config "optimizer.nesterov")
        | _ -> Training.Adam
    let schedule =
        match Config.text config "schedule.name" with
        | "cosine" -> Training.Cosine (Config.real config "schedule.min_lr")
        | "step" -> Training.StepDecay (Config.integer config "schedule.every", Config.real config "schedule.factor")
        | _ -> Training.Constant
    let calibration =
        match Config.text config "calibration.mode" with
        | "none" -> Modules.NoCalibration
        | "every-layer" -> Modules.EveryLayer (Config.real config "calibration.rate")
        | _ -> Modules.SilentLayers (Config.real config "calibration.rate")
    let settings =
        { Training.TrainerSettings.Default with
            Epochs = Config.integer config "epochs"
            BatchSize = Config.integer config "batch_size"
            LearningRate = Config.real config "optimizer.lr"
            Seed = Config.integer config "seed"
            Optimizer = optimizer
            Schedule = schedule
            ClipGradientNorm = Config.optionalReal config "clip_grad_norm"
            EarlyStoppingPatience = Config.optionalInteger config "early_stopping.patience"
            CheckpointDirectory = Config.optionalText config "checkpoint.dir"
            Resume = Config.boolean config "checkpoint.resume"
            Calibration = calibration }
    let rename (e: ArgumentException) (key: string) : exn = renamed config e key
    // Check the ranges here, where the keys are known, rather than in the middle of training.
    try
        if settings.Epochs <= 0 then invalidArg "Epochs" $"must be > 0, got {settings.Epochs}"
        if settings.BatchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {settings.BatchSize}"
        if not (settings.LearningRate > 0.0) || Double.IsInfinity settings.LearningRate then
            invalidArg "LearningRate" $"must be > 0, got {settings.LearningRate}"
        settings.ClipGradientNorm |> Option.iter (fun c -> if not (c > 0.0) then invalidArg "ClipGradientNorm" $"must be > 0, got {c}")
        settings.EarlyStoppingPatience |> Option.iter (fun p -> if p <= 0 then invalidArg "EarlyStoppingPatience" $"must be > 0, got {p}")
        if settings.Resume && settings.CheckpointDirectory.IsNone then invalidArg "Resume" "needs checkpoint.dir"
        Training.Schedule.learningRate settings.Schedule settings.LearningRate settings.Epochs settings.Epochs |> ignore
        let atLeastOne (key: string) (value: int option) =
            match value with
            | Some v when v < 1 -> raise (renamed config (ArgumentException ($"must be >= 1, got {v}", "x")) key)
            | _ -> ()
        // libtorch aborts the process on a thread count below 1, so the range is checked before it is set.
        match Config.optionalInteger config "threads" with
        | Some t when t < 1 || t > 4096 -> raise (renamed config (ArgumentException ($"must lie in [1, 4096], got {t}", "x")) "threads")
        | _ -> ()
        for key in [ "model.hidden"; "data.train_samples"; "data.test_samples"; "data.frames" ] do
            atLeastOne key (Some (Config.integer config key))
        match optimizer with
        | Training.AdamW d when not (d >= 0.0) ->
            raise (renamed config (ArgumentException ($"must be >= 0, got {d}", "x")) "optimizer.weight_decay")
        | Training.Sgd (m, _) when not (m >= 0.0 && m < 1.0) ->
            raise (renamed config (ArgumentException ($"must lie in [0, 1), got {m}", "x")) "optimizer.momentum")
        | _ -> ()
        // The trainer's own checks for what is left (the calibration rate), named by key through keyOfSetting.
        Training.validateTrainer settings
    with :? ArgumentException as e when not (isNull e.ParamName) && keyOfSetting.ContainsKey e.ParamName ->
        raise (rename e keyOfSetting.[e.ParamName])
    settings

/// The LIF neuron of the configuration with integration step `dt` (ms, set by the data's time bin).
let lifNeuron (config: Map<string, ConfigEntry>) (dt: float) : LifParameters =
    let neuron =
        { LifParameters.Default with
            TauMem = Config.real config "neuron.tau_mem"
            VThreshold = Config.real config "neuron.threshold"
            Reset = (match Config.text config "neuron.reset" with "soft" -> Soft | "none" -> NoReset | _ -> Hard)
            Dt = dt }
    try Lif.validate neuron
    with :? ArgumentException as e when e.ParamName = "TauMem" || e.ParamName = "VThreshold" ->
        let key = if e.ParamName = "TauMem" then "neuron.tau_mem" else "neuron.threshold"
        raise (renamed config e key)

/// The effective configuration of `snn train`: defaults, then the file (when given), then `flags` (values the
/// command line set through its own options), then the `key=value` overrides.
let resolve (file: string option) (flags: Map<string, ConfigEntry>) (overrides: string seq) : Map<string, ConfigEntry> =
    let fileLayer = match file with Some path -> Config.load path | None -> Map.empty
    Config.resolve schema [ fileLayer; flags; Config.overrides schema overrides ]
