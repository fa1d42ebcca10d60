/// The one supervised training loop of Snn. Every method (a plain classifier, AL-SNN with a manual or learned loss
/// combiner, TM-SNN / EC-SNN, learned thresholds) is a `Method`: the loop is the same and only four hooks differ:
///   1. the loss of a batch (`BatchLoss`: cross-entropy, eq. 3.3's combination, eq. 4.1's L = (1 - γ) L_y + γ L_t);
///   2. the task a batch is trained for (`Tasks` > 1 draws one uniformly per batch, seeded by seed·7919 + epoch);
///   3. an optional hyper step (`Hyper`): every `Interval` weight steps, one Adam step of the hyperparameters φ
///      along the implicit hypergradient dL_V/dφ of an outer loss on held-out data (`Bilevel`, `Hypergradient`);
///   4. the evaluation after an epoch (`Evaluate`: the test accuracy that early stopping watches).
/// The loop owns what every method gains from it: the optimiser and its schedule, gradient clipping, the one
/// seeded shuffle (epoch e visits the samples in the order of `Random(seed + e).Shuffle`, so a resumed run sees the
/// same batches), checkpoints after every epoch and resume, early stopping, cancellation and progress reports.
/// Inputs are time-first [T; B; ...].
[<RequireQualifiedAccess>]
module Snn.Trainer

open System
open System.Diagnostics
open System.IO
open TorchSharp
open Snn.Tensors

/// One batch as the loop hands it to a method.
[<NoEquality; NoComparison>]
type Batch =
    { /// Epoch number, from 1.
      Epoch: int
      /// Position of the batch in its epoch, from 0.
      Index: int
      /// Optimisation steps before this one in the whole run, resumed epochs included:
      /// (epoch − 1) · batches per epoch + index. A method derives its held-out batch from it, so a resumed run
      /// sees the same one.
      Step: int
      /// Inputs, time-first [T; B; ...].
      Inputs: Tensor
      /// Labels [B] as the source gives them (class indices; multi-task methods map them to each task's labels).
      Labels: Tensor
      /// The task drawn for this batch (0 for single-task methods).
      Task: int }

/// A method's answer for one batch.
[<NoEquality; NoComparison>]
type BatchLoss =
    { /// The scalar loss to minimise, carrying the graph to the weights.
      Loss: Tensor
      /// Predictions of the batch that were right (the numerator of the training accuracy).
      Correct: int
      /// Further batch values to average over the epoch into the history (e.g. the main and auxiliary losses).
      Measures: Training.Measure[] }

/// The upper level of a bilevel method (AuxiLearn's learned combiners, learned thresholds; thesis § 3.4.3).
[<NoEquality; NoComparison>]
type HyperStep =
    { /// The hyperparameters φ, trained by their own Adam at `Settings.HyperLearningRate`.
      Hyperparameters: TorchSharp.Modules.Parameter[]
      /// The weights W the implicit step differentiates through (all trained weights, or a block of them).
      Weights: Tensor[]
      /// Interval, inverse-Hessian approximation and hyper learning rate.
      Settings: Bilevel.Settings
      /// The outer loss L_V on the held-out batch of the batch's step (see `heldOutBatch`); called only when a
      /// hyper step is due, so the held-out batch is built only then.
      OuterLoss: Batch -> Tensor
      /// Called after every hyper step (e.g. to keep thresholds above a floor, or to record them).
      AfterHyperStep: unit -> unit }

/// What distinguishes one training method from another (see the module comment).
[<NoEquality; NoComparison>]
type Method =
    { /// Hook 1: the loss of one batch, in training mode.
      BatchLoss: Batch -> BatchLoss
      /// Hook 2: the number of tasks drawn per batch (1 for single-task methods).
      Tasks: int
      /// Hook 3: the hyper step of a bilevel method.
      Hyper: HyperStep option
      /// Hook 4: the test accuracy in [0, 1] after an epoch; without it the history records NaN and early stopping
      /// is refused.
      Evaluate: (unit -> float) option
      /// What the method measures of the gradients, after backward and before clipping (e.g. per-layer gradient
      /// norms); averaged into the history like the batch measures.
      AfterBackward: (Batch -> Training.Measure[]) option }

/// Where a run gets its training batches: epoch e's batches (time-first inputs [T; B; ...] and labels [B]) in the
/// order of the one seeded shuffle. `tensorSource` builds one from tensors, `DatasetTraining.source` from the
/// `Snn.Data.Dataset` API.
[<NoEquality; NoComparison>]
type BatchSource =
    { /// Training samples per epoch (the denominator of the training accuracy).
      Samples: int
      /// Batches per epoch (for progress reports and the task draws).
      BatchesPerEpoch: int
      /// The batches of epoch e (from 1). Each pair is disposed after its optimisation step.
      Epoch: int -> seq<Tensor * Tensor> }

/// The order in which epoch e (from 1) visits n samples under `seed`: `Random(seed + e).Shuffle` of 0 .. n-1.
/// The one shuffle of every method, so a resumed run and a dataset-backed run see the same batches.
let epochOrder (seed: int) (epoch: int) (n: int) : int64[] =
    Data.Dataset.shuffle (seed + epoch) n |> Array.map int64

/// The task of every batch of an epoch: uniform draws over `tasks`, seeded by seed·7919 + epoch.
let taskDraws (seed: int) (epoch: int) (tasks: int) (batches: int) : int[] =
    if tasks <= 1 then Array.zeroCreate batches else MultiTask.drawTasks (seed * 7919 + epoch) tasks batches

/// The held-out batch of optimisation step s (from 0) of a bilevel method: `batchSize` indices of `held` from
/// position s · batchSize on, cycling through them in order (what a cursor advanced once per step gives, but
/// computed from the step, so a resumed run takes the same batches).
let heldOutBatch (held: int64[]) (batchSize: int) (step: int) : int64[] =
    if isNull held || held.Length = 0 then invalidArg "held" "holds no sample"
    let take = min batchSize held.Length
    let start = int ((int64 step * int64 take) % int64 held.Length)
    Array.init take (fun i -> held.[(start + i) % held.Length])

/// The `BatchSource` of samples [N; T; ...] with labels [N], cut into batches of `batchSize` in `epochOrder`.
let tensorSource (batchSize: int) (seed: int) (samples: Tensor, labels: Tensor) : BatchSource =
    if batchSize <= 0 then invalidArg "BatchSize" $"must be > 0, got {batchSize}"
    if isNull (box samples) then nullArg "samples"
    if isNull (box labels) then nullArg "labels"
    let n = samples.shape.[0]
    if n = 0L then invalidArg "samples" "is empty"
    if n <> labels.shape.[0] then invalidArg "labels" $"has {labels.shape.[0]} entries for {n} samples"
    let batches = int ((n + int64 batchSize - 1L) / int64 batchSize)
    { Samples = int n
      BatchesPerEpoch = batches
      Epoch = fun epoch ->
        let order = epochOrder seed epoch (int n)
        seq {
            for b in 0 .. batches - 1 do
                let indices = order.[b * batchSize .. min (int n) ((b + 1) * batchSize) - 1]
                use index = torch.tensor indices
                yield Data.Dataset.batchOf samples indices, labels.index_select (0L, index) } }

/// The hyperparameters of a bilevel method as a module, so a checkpoint can save and load them like a model. It
/// holds aliases (the same storage, its own handles): loading writes into the method's tensors, and disposing the
/// set leaves them alive.
type private HyperparameterSet(parameters: TorchSharp.Modules.Parameter[]) as this =
    inherit torch.nn.Module("Hyperparameters")
    do parameters |> Array.iteri (fun i p -> this.register_parameter ($"phi{i}", new TorchSharp.Modules.Parameter (p.detach (), false)))

/// The extra checkpoint files of a bilevel method's upper level: its hyperparameters and their optimiser's state.
let private hyperFile, hyperOptimizerFile = "hyper.bin", "hyper-optimizer.bin"

let private saveOptimizer (optimizer: torch.optim.Optimizer) (path: string) =
    match optimizer with
    | :? TorchSharp.Modules.OptimizerHelper as o -> o.save_state_dict path
    | _ -> invalidArg "optimizer" "cannot save the state of this optimizer type"

/// Whether a run with these settings continues from a checkpoint (so one-time preparations such as a calibrated
/// initialisation must not run again: the checkpoint's weights replace them).
let resumes (settings: Training.TrainerSettings) : bool =
    settings.Resume && settings.CheckpointDirectory |> Option.exists Training.Checkpoint.exists

let private validateMethod (settings: Training.TrainerSettings) (m: Method) =
    if isNull (box m.BatchLoss) then nullArg "BatchLoss"
    if m.Tasks < 1 then invalidArg "Tasks" $"must be ≥ 1, got {m.Tasks}"
    if m.Evaluate.IsNone && settings.EarlyStoppingPatience.IsSome then
        invalidArg "EarlyStoppingPatience" "needs a method that evaluates after each epoch (a test split)"

/// Trains `model` by `method` on the batches of `source`: each epoch sets the scheduled learning rate, draws the
/// batches' tasks, and per batch: zero grads, the method's loss, backward, clip, step, and every `Interval` steps
/// the method's hyper step; then the method's evaluation. Checkpoints are written after every epoch when a
/// directory is given (with the random generator's state and a bilevel method's hyperparameters and their
/// optimiser, all in one checkpoint folder, see `Training.Checkpoint`); with
/// `Resume` a run continues after the last saved epoch. `onBatch` sees (epoch, batches done, batches per epoch,
/// running mean loss), `onEpoch` each new entry; `cancellation` is checked before every batch.
let run (model: torch.nn.Module) (settings: Training.TrainerSettings) (method: Method) (source: BatchSource)
        (onBatch: Training.BatchProgress -> unit) (onEpoch: Training.HistoryEntry -> unit)
        (cancellation: Threading.CancellationToken) : Training.History =
    Training.validateTrainer settings
    validateMethod settings method
    if source.Samples <= 0 then invalidArg "source" "holds no training samples"
    use optimizer = Training.createOptimizer settings.Optimizer settings.LearningRate model
    let bilevel =
        method.Hyper |> Option.map (fun h ->
            h, Bilevel.Trainer (h.Weights, h.Hyperparameters, optimizer, h.Settings), new HyperparameterSet (h.Hyperparameters))
    // The random state and a bilevel method's upper level go into the same checkpoint folder and manifest.
    let extras : (string * (string -> unit)) list =
        [ yield Training.Checkpoint.randomStateFile, Training.Checkpoint.writeRandomState
          match bilevel with
          | Some (_, b, set) ->
              yield hyperFile, (fun p -> set.save p |> ignore)
              yield hyperOptimizerFile, saveOptimizer b.HyperOptimizer
          | None -> () ]
    let save (entries: Training.HistoryEntry[]) (dir: string) = Training.Checkpoint.saveWith extras dir model optimizer entries
    let previous =
        match settings.CheckpointDirectory with
        // A damaged or partial checkpoint is an error here, never a silent fresh start that overwrites it.
        | Some dir when settings.Resume && (Training.Checkpoint.latest dir).IsSome ->
            let history = Training.Checkpoint.load dir model optimizer
            bilevel |> Option.iter (fun (_, b, set) ->
                let extra name =
                    match Training.Checkpoint.extraFile dir name with
                    | Some path -> path
                    | None -> raise (IO.InvalidDataException ($"{dir}: the checkpoint holds no {name}, which a bilevel run needs to resume"))
                set.load (extra hyperFile) |> ignore
                match b.HyperOptimizer with
                | :? TorchSharp.Modules.OptimizerHelper as o -> o.load_state_dict (extra hyperOptimizerFile)
                | _ -> invalidArg "optimizer" "cannot load the state of this optimizer type")
            Training.Checkpoint.loadRandomState dir
            history
        | _ -> [||]
    let entries = ResizeArray<Training.HistoryEntry> previous
    let hyperSteps = ResizeArray<Training.HyperStepRecord> ()
    let best () = if entries.Count = 0 then 0 else (entries |> Seq.maxBy (fun e -> e.TestAccuracy, -e.Epoch)).Epoch
    let patienceExhausted () =
        match settings.EarlyStoppingPatience with
        | Some patience when entries.Count > 0 -> entries.[entries.Count - 1].Epoch - best () >= patience
        | _ -> false
    let mutable stopped = patienceExhausted ()
    let mutable epoch = entries.Count + 1
    // Batches go where the model's parameters are (a source gives CPU tensors).
    let device = deviceOf model
    while not stopped && epoch <= settings.Epochs do
        let clock = Stopwatch.StartNew ()
        let rate = Training.Schedule.learningRate settings.Schedule settings.LearningRate settings.Epochs epoch
        Training.setLearningRate optimizer rate
        // Training mode for the whole epoch: only the evaluation after it switches the model to evaluation mode.
        model.train ()
        let draws = taskDraws settings.Seed epoch method.Tasks source.BatchesPerEpoch
        let mutable lossSum, normSum, hits, batches = 0.0, 0.0, 0, 0
        let measureSums = Collections.Generic.Dictionary<string, float * int> ()
        let measureOrder = ResizeArray<string> ()
        let addMeasures (measures: Training.Measure[]) =
            for m in measures do
                match measureSums.TryGetValue m.Name with
                | true, (sum, count) -> measureSums.[m.Name] <- (sum + m.Value, count + 1)
                | _ ->
                    measureSums.[m.Name] <- (m.Value, 1)
                    measureOrder.Add m.Name
        let perTask = Array.zeroCreate<int> method.Tasks
        use enumerator = (source.Epoch epoch).GetEnumerator ()
        let mutable more = true
        while more do
            cancellation.ThrowIfCancellationRequested ()
            // The last step's undisposed handles are freed before this step allocates, so the heap reuses its blocks.
            Allocator.beforeStep ()
            use scope = torch.NewDisposeScope ()
            // The batch is produced inside the scope, so tensors the source creates on this thread are freed with it.
            more <- enumerator.MoveNext ()
            if more then
                let inputs, labels = enumerator.Current
                try
                    if batches >= draws.Length then invalidOp $"the batch source gave more than its {source.BatchesPerEpoch} batches in epoch {epoch}"
                    let batch =
                        { Epoch = epoch; Index = batches; Step = (epoch - 1) * source.BatchesPerEpoch + batches
                          Inputs = onDevice device inputs; Labels = onDevice device labels; Task = draws.[batches] }
                    optimizer.zero_grad ()
                    let result = method.BatchLoss batch
                    if isNull (box result.Loss) || result.Loss.numel () <> 1L then invalidOp "the method's BatchLoss must return a scalar tensor"
                    Diff.backward result.Loss
                    method.AfterBackward |> Option.iter (fun measure -> addMeasures (measure batch))
                    normSum <- normSum + Training.clipGradients settings.ClipGradientNorm model
                    optimizer.step () |> ignore
                    lossSum <- lossSum + result.Loss.ToDouble ()
                    hits <- hits + result.Correct
                    addMeasures result.Measures
                    perTask.[batch.Task] <- perTask.[batch.Task] + 1
                    match bilevel with
                    | Some (h, b, _) when (batch.Step + 1) % h.Settings.Interval = 0 ->
                        let value, norm = b.HyperStep ((fun () -> (method.BatchLoss batch).Loss), (fun () -> h.OuterLoss batch))
                        h.AfterHyperStep ()
                        hyperSteps.Add ({ Epoch = epoch; OuterLoss = value; HypergradientNorm = norm } : Training.HyperStepRecord)
                    | _ -> ()
                    batches <- batches + 1
                    onBatch (epoch, batches, source.BatchesPerEpoch, lossSum / float batches)
                finally
                    // A prefetching source builds batches on another thread, outside this scope.
                    inputs.Dispose ()
                    labels.Dispose ()
        if batches = 0 then invalidOp $"the batch source gave no batches in epoch {epoch}"
        let testAccuracy = match method.Evaluate with Some evaluate -> evaluate () | None -> nan
        let entry : Training.HistoryEntry =
            { Epoch = epoch; LearningRate = rate; TrainLoss = lossSum / float batches
              TrainAccuracy = float hits / float source.Samples
              TestAccuracy = testAccuracy
              GradientNorm = normSum / float batches; Seconds = clock.Elapsed.TotalSeconds
              BatchesPerTask = perTask
              Measures = [| for name in measureOrder -> (let sum, count = measureSums.[name] in ({ Name = name; Value = sum / float count } : Training.Measure)) |] }
        entries.Add entry
        settings.CheckpointDirectory |> Option.iter (save (entries.ToArray ()))
        onEpoch entry
        stopped <- patienceExhausted ()
        epoch <- epoch + 1
    bilevel |> Option.iter (fun (_, _, set) -> set.Dispose ())
    let history : Training.History =
        { Entries = entries.ToArray (); BestEpoch = best ()
          StoppedEarly = stopped && entries.Count < settings.Epochs
          HyperSteps = hyperSteps.ToArray () }
    history

/// The plain classifier: `settings.Loss` of the network's output [T; B; C] and the labels [B]; a prediction is the
/// output with the most spikes; `evaluate` scores the test split after every epoch.
let classifier (model: torch.nn.Module<Tensor, Tensor>) (settings: Training.TrainerSettings) (evaluate: unit -> float) : Method =
    { BatchLoss = fun batch ->
        let output = model.forward batch.Inputs
        let loss = settings.Loss output batch.Labels
        { Loss = loss; Correct = Metrics.correct (Loss.spikeCounts (output.detach ())) batch.Labels; Measures = [||] }
      Tasks = 1
      Hyper = None
      Evaluate = Some evaluate
      AfterBackward = None }

/// The training samples a classifier run calibrates on (`Training.TrainerSettings.Calibration`).
let calibrationSamples = 256

/// The training samples whose layer activity a classifier run checks after every epoch.
let watchedSamples = 64

/// Before the first epoch of a fresh run (not on resume): `settings.Calibration` of a chain model on `probe`
/// [T; B; ...] (training samples), each scaled layer written to `settings.Log`. A model that is not a chain is left
/// alone (said in the log when every layer was asked for).
let calibrate (model: torch.nn.Module<Tensor, Tensor>) (settings: Training.TrainerSettings) (probe: Tensor) : unit =
    if not (resumes settings) then
        match Modules.Calibration.calibrate settings.Calibration model probe, settings.Calibration with
        | Ok results, _ -> Modules.Calibration.describe results |> List.iter settings.Log
        | Error reason, Modules.EveryLayer _ -> settings.Log reason
        | Error _, _ -> ()

/// The check after every epoch of a classifier run, on `probe` [T; B; ...] (training samples): one warning line in
/// `settings.Log` for every neuron layer of a chain model (or, for another model, the output) that fired no spike,
/// and one when the epoch's training loss equals ln C to 1e-3, the cross-entropy of equal spike counts for every
/// class (a silent or saturated output layer gives exactly that, and no gradient moves it).
let watch (model: torch.nn.Module<Tensor, Tensor>) (settings: Training.TrainerSettings) (probe: Tensor) : Training.HistoryEntry -> unit =
    let outputOf () =
        let wasTraining = model.training
        model.eval ()
        try
            use _ = torch.no_grad ()
            use _ = torch.NewDisposeScope ()
            let spikes = model.call probe
            (if spikes.dim () = 3 then int spikes.shape.[2] else 0), (use total = spikes.sum () in total.ToDouble ())
        finally model.train wasTraining
    let classes, _ = outputOf ()
    let samples = probe.shape.[1]
    fun entry ->
        let silent =
            match Modules.Calibration.firingRates model probe with
            | Some rates -> [ for name, rate in rates do if rate = 0.0 then yield name ]
            | None -> if snd (outputOf ()) = 0.0 then [ "the output layer" ] else []
        for name in silent do
            settings.Log $"warning: epoch {entry.Epoch}: {name} fired no spike on {samples} training samples, so no gradient passes through it (scale its input weights up, or train with Calibration = EveryLayer)"
        if classes > 1 && abs (entry.TrainLoss - log (float classes)) < 1e-3 then
            settings.Log $"warning: epoch {entry.Epoch}: the training loss {entry.TrainLoss:F4} equals ln {classes} = {log (float classes):F4}, the loss of equal output spike counts: the network is not learning"

/// Trains a classifier (output [T; B; C]) on samples [N; T; ...] with labels [N], scoring the test split with
/// `Training.evaluate` (most output spikes) after every epoch; `onBatch` sees every batch, `onEpoch` every epoch.
/// A fresh run first calibrates the model on the first `calibrationSamples` training samples (`calibrate`), and
/// every epoch is checked for silent layers and a loss stuck at ln C (`watch`).
let trainWithProgress (model: torch.nn.Module<Tensor, Tensor>) (settings: Training.TrainerSettings)
                      (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
                      (onBatch: Training.BatchProgress -> unit) (onEpoch: Training.HistoryEntry -> unit)
                      (cancellation: Threading.CancellationToken) : Training.History =
    Training.validateTrainer settings
    let source = tensorSource settings.BatchSize settings.Seed (trainSamples, trainLabels)
    let method = classifier model settings (fun () -> Training.evaluate model settings.BatchSize testSamples testLabels)
    let first count =
        use _ = torch.NewDisposeScope ()
        (Data.Dataset.batchOf trainSamples [| 0L .. min trainSamples.shape.[0] count - 1L |]).MoveToOuterDisposeScope ()
    (use probe = first (int64 calibrationSamples) in calibrate model settings probe)
    use watched = first (int64 watchedSamples)
    let check = watch model settings watched
    run model settings method source onBatch (fun e -> onEpoch e; check e) cancellation

/// `trainWithProgress` without per-batch reports.
let train (model: torch.nn.Module<Tensor, Tensor>) (settings: Training.TrainerSettings)
          (trainSamples: Tensor, trainLabels: Tensor) (testSamples: Tensor, testLabels: Tensor)
          (onEpoch: Training.HistoryEntry -> unit) (cancellation: Threading.CancellationToken) : Training.History =
    trainWithProgress model settings (trainSamples, trainLabels) (testSamples, testLabels) ignore onEpoch cancellation
