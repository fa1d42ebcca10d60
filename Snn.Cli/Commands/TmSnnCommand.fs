/// `snn tmsnn`: trains the threshold-modulated multi-task SNN (thesis ch. 4) on the built-in moving-patterns set,
/// prints each task's accuracy and SynOps under its threshold, and writes a report folder: metrics JSON, the
/// checkpoint, and the Loihi deployment of the label path (NetX and NIR files, emulated accuracy and profile per
/// task).
module Snn.Cli.TmSnnCommand

open System
open System.IO
open System.Text.Json
open Argu
open TorchSharp
open Snn
open Snn.Loihi
open Snn.Modules
open Snn.TmSnnSetup
open Snn.Report

/// Options of `snn tmsnn`.
type TmSnnArgs =
    | Epochs of int
    | Batch_Size of int
    | Learning_Rate of float
    | Seed of int
    | Train_Samples of int
    | Test_Samples of int
    | Frames of int
    | Tasks of int
    | Thresholds of list: string
    | Gamma of float
    | Shrink of int
    | Loihi_Samples of int
    | Weight_Gain of float
    | Rate of float
    | Calibrate_At of point: string
    | Label_Target of which: string
    | Learn_Thresholds of synops_weight: float
    | Tau_Mem of float
    | Tau_Syn of float
    | Threads of int
    | Device of name: string
    | Dataset of name: string
    | Spike_Gradient of spec: string
    | Label_Loss of spec: string
    | Single_Task_Reference
    | Out of directory: string
    | Config of path: string
    | Set of assignment: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Epochs _ -> "passes over the training set (default 50)"
            | Batch_Size _ -> "samples per step, one task per batch (default 32)"
            | Learning_Rate _ -> "Adam learning rate (default 0.005)"
            | Seed _ -> "seed of data, weights, shuffling and task draws (default 0)"
            | Train_Samples _ -> "training samples (default 1500)"
            | Test_Samples _ -> "test samples (default 500)"
            | Frames _ -> "time steps T per sample (default 20)"
            | Tasks _ -> "number of tasks, 1-4: pattern, axis-aligned, vertical, horizontal on moving-patterns; digit, odd/even, greater than 5, mod 3 on event-mnist (default 3)"
            | Thresholds _ -> "comma-separated thresholds phi_k, one per task (default 1.25,2.5,5,10 truncated; the thesis's are 1.25,5,10,15)"
            | Gamma _ -> "task-classifier weight gamma of eq. 4.1 (default 0.3; 0 trains without it)"
            | Shrink _ -> "divide the thesis layer sizes 512/512/128 by this (default 2: 256/256/64, to finish in minutes)"
            | Loihi_Samples _ -> "test samples run on the bit-accurate Loihi emulator per task (default 100; 0 skips)"
            | Weight_Gain _ -> "scale of the default weight initialisation (default: the configuration's)"
            | Learn_Thresholds _ -> "learn the thresholds by implicit hypergradient on a 20 % validation split, with this weight on the SynOps fraction (reference kernel; slower)"
            | Label_Target _ -> "task: L_y on the drawn task's outputs only (default); all: on every label output, zero targets for the other tasks' outputs"
            | Rate _ -> "firing rate per neuron and step of the calibrated initialisation (default 0.05)"
            | Calibrate_At _ -> "threshold the initialisation is calibrated at: highest (default: every task's layers fire from the start) or geometric-mean (the lowest task over-driven, the highest under-driven; at 1.25 / 5 / 10 the highest task's layers start silent)"
            | Tau_Mem _ -> "membrane time constant in ms (default: the configuration's)"
            | Tau_Syn _ -> "synaptic time constant in ms (default: the configuration's)"
            | Threads _ -> "intra-op threads (default: all cores)"
            | Device _ -> "cpu (default) or cuda[:index]: where the networks and their batches live while they train and are tested (the fused kernels run on the CPU; elsewhere the reference path runs); the saved model and the Loihi export come from the CPU"
            | Dataset _ -> "moving-patterns (default, built in) or event-mnist (real MNIST digits recorded N-MNIST's way by the DVS emulator, cached as N-MNIST files; the first --train-samples / --test-samples of its 8000 / 2000 split)"
            | Spike_Gradient _ -> "how the surrogate derivative dz/dv depends on the task threshold: unit (the neuron's ATan on v/theta, height 1/theta), constant-height[:tau_grad,scale_rho] (scale_rho exp(-|v-theta|/(tau_grad theta)), default 1,1), lava-dl[:tau_grad,scale_grad] (lava-dl's CUBA: s/(2 tau) exp(-|v-theta|/tau), tau = 100 tau_grad theta, s = 0.1 scale_grad, default 1,1) or fixed[:tau_rho,scale_rho] (s/(2 tau) exp(-|v-theta|/tau) with tau, s fixed, default 3.75,0.3); default fixed:3.75,3 (TmSnnSetup.recipeSpikeGradient)"
            | Label_Loss _ -> "L_y: mse (default: mean squared error of the rates to 0.5 / 0) or spike-rate[:true,false] (lava-dl's SpikeRate, summed squared error to the true / false rates, default 0.2,0.03)"
            | Out _ -> "run folder: metrics.json, model.bin, config.yaml, log.txt, tensorboard/, the Loihi files and plots (default runs/tmsnn-<timestamp>)"
            | Config _ -> "a .json or .yaml file of these options in snake_case (e.g. thresholds: [1.25, 2.5, 5]); flags and --set override it"
            | Set _ -> "override one option, e.g. --set learning_rate=0.01 (repeatable; applied last)"
            | Single_Task_Reference -> "also train one single-task network (ST-SNN, phi = 1.25) per task with the same recipe and budget, and print its test accuracy next to the task's"

/// The default thresholds when none are given (`build.fsx train` passes the thesis's 1.25,5,10). Measured on
/// moving-patterns (3 tasks, 1500 samples, 50 epochs) with the earlier recipe (calibrated at the thresholds'
/// geometric mean at rate 0.15, unit-threshold surrogate): 1.25 / 5 / 10 gave 65.2 / 75.2 / 59.6 % (the φ = 10 task's
/// layers fired too little to learn it), 1.25 / 2.5 / 5 gave 80.6 / 85.0 / 89.8 %.
let private demonstrationThresholds = [| 1.25; 2.5; 5.0; 10.0 |]

/// A "name" or "name:a,b" option value: the name and its two numbers (the defaults when none are given).
let private namedPair (option: string) (spec: string) (defaults: float * float) : string * (float * float) =
    match spec.Split (':', 2) with
    | [| name |] -> name, defaults
    | [| name; values |] ->
        match CommaLists.floats option values with
        | [| a; b |] -> name, (a, b)
        | other -> invalidArg option $"'{spec}': expected two numbers after ':', got {other.Length}"
    | _ -> invalidArg option $"'{spec}' is not name[:a,b]"

/// The `--spike-gradient` value as a SpikeGradient.
let spikeGradientOf (spec: string) : SpikeGradient =
    match spec.Split(':').[0] with
    | "unit" -> UnitThreshold
    | "constant-height" -> ConstantHeight (snd (namedPair "spike-gradient" spec (1.0, 1.0)))
    | "lava-dl" -> LavaDlCuba (snd (namedPair "spike-gradient" spec (1.0, 1.0)))
    | "fixed" -> FixedLaplace (snd (namedPair "spike-gradient" spec (3.75, 0.3)))
    | other -> invalidArg "spike-gradient" $"'{other}' is none of unit, constant-height, lava-dl, fixed"

/// The `--calibrate-at` value as a calibration point.
let calibrationPointOf (name: string) : TmSnnTraining.CalibrationPoint =
    match name with
    | "highest" -> TmSnnTraining.HighestThreshold
    | "geometric-mean" -> TmSnnTraining.GeometricMeanThreshold
    | other -> invalidArg "calibrate-at" $"'{other}' is neither highest nor geometric-mean"

/// The `--label-loss` value as L_y.
let labelLossOf (spec: string) : torch.Tensor -> torch.Tensor -> torch.Tensor =
    match spec.Split(':').[0] with
    | "mse" -> TmSnnTraining.Settings.Default.LabelLoss
    | "spike-rate" -> let t, f = snd (namedPair "label-loss" spec (0.2, 0.03)) in Loss.spikeRate t f
    | other -> invalidArg "label-loss" $"'{other}' is neither mse nor spike-rate"

/// Per task, the layers' weight-gradient norms and firing rates of an epoch, one line per task.
let describeLayers (r: Training.HistoryEntry) : string list =
    let gradients, firing = TmSnnTraining.gradientNorms r.BatchesPerTask.Length r, TmSnnTraining.firingRates r.BatchesPerTask.Length r
    [ for k in 0 .. gradients.Length - 1 ->
        let norms = String.Join (" ", gradients.[k] |> Array.map (fun g -> g.ToString "0.##E+0"))
        let rates = String.Join (" ", firing.[k] |> Array.map (fun f -> f.ToString "F3"))
        $"    task {k + 1}: |dL/dW| per layer {norms}; firing rate per layer {rates}" ]

/// Trains and evaluates as `args` say, writing into the run folder `directory`; `onBatch` sees every batch.
let private trainIn (args: ParseResults<TmSnnArgs>) (directory: string) (onBatch: Training.BatchProgress -> unit) : int =
    printfn "run folder: %s" directory
    args.TryGetResult Threads |> Option.iter (Snn.Limits.setThreads "--threads")
    let device =
        match Tensors.parseDevice (args.GetResult (Device, "cpu")) with
        | Error message -> raise (ArgumentException $"--device: {message}")
        | Ok device -> device
    Allocator.keepFreedMemory () |> ignore
    let clock = Diagnostics.Stopwatch.StartNew ()
    let seed = args.GetResult (Seed, 0)
    let frames = args.GetResult (Frames, 20)
    let trainCount, testCount = args.GetResult (Train_Samples, 1500), args.GetResult (Test_Samples, 500)
    let data =
        match args.GetResult (Dataset, "moving-patterns") with
        | "moving-patterns" -> movingPatterns frames seed trainCount testCount
        | "event-mnist" ->
            match eventMnist frames trainCount testCount (printfn "%s") with
            | Ok d -> d
            | Error message -> invalidArg "dataset" message
        | other -> invalidArg "dataset" $"'{other}' is neither moving-patterns nor event-mnist"
    let taskCount = args.GetResult (Tasks, 3)
    if taskCount < 1 || taskCount > data.Tasks.Length then invalidArg "tasks" $"must lie in [1, {data.Tasks.Length}], got {taskCount}"
    let thresholds =
        match args.TryGetResult Thresholds with
        | Some text -> CommaLists.floats "thresholds" text
        | None -> demonstrationThresholds.[.. taskCount - 1]
    if thresholds.Length <> taskCount then invalidArg "thresholds" $"gives {thresholds.Length} thresholds for {taskCount} tasks"
    let gamma = args.GetResult (Gamma, 0.3)
    let shrink = args.GetResult (Shrink, 2)
    if shrink < 1 then invalidArg "shrink" $"must be >= 1, got {shrink}"
    printfn $"{data.Name}: {data.TrainFrames.shape.[0]} train / {data.TestFrames.shape.[0]} test samples, T = {frames} bins of {data.BinMs} ms ({clock.Elapsed.TotalSeconds:F1} s)"
    torch.manual_seed (int64 seed) |> ignore
    let config = config data shrink taskCount ByThreshold thresholds (Array.zeroCreate taskCount) (gamma > 0.0)
    let config =
        { config with
            WeightGain = args.GetResult (Weight_Gain, config.WeightGain)
            Neuron = { config.Neuron with TauMem = args.GetResult (Tau_Mem, config.Neuron.TauMem); TauSyn = args.GetResult (Tau_Syn, config.Neuron.TauSyn) }
            // Learned thresholds differentiate twice through the neurons: only the reference kernel can.
            Kernel = if args.Contains Learn_Thresholds then Reference else config.Kernel
            SpikeGradient = args.TryGetResult Spike_Gradient |> Option.map spikeGradientOf |> Option.defaultValue config.SpikeGradient }
    use model = new TmSnn(config)
    model.``to`` device |> ignore
    let tasksText = String.Join (", ", config.Tasks |> Array.mapi (fun k t -> $"{t.Name} ({t.LabelCount} labels, phi = {thresholds.[k]})"))
    let taskClassifier = if model.HasTaskClassifier then sprintf "%d-%d" config.TaskHidden taskCount else "none"
    printfn $"TM-SNN {config.Inputs}-{String.Join ('-', config.FeatureSizes)}-{config.LabelHidden}-{MultiTask.totalLabels config.Tasks}, task classifier {taskClassifier}, CuLIF (CUBA) tau_syn {config.Neuron.TauSyn} ms, tau_mem {config.Neuron.TauMem} ms; tasks: {tasksText}"
    let trainer =
        { TmSnnTraining.trainerDefaults with
            Epochs = args.GetResult (Epochs, 50); BatchSize = args.GetResult (Batch_Size, 32)
            LearningRate = args.GetResult (Learning_Rate, 5e-3); Seed = seed }
    let settings =
        { TmSnnTraining.Settings.Default with
            Gamma = gamma
            // Defaults chosen by measurement on EventMnist (2000 samples, 3 tasks at 1.25 / 5 / 10, see bench/RESULTS.md):
            // calibrated at the highest threshold at rate 0.05, the drawn task's outputs as L_y's target.
            CalibrationRate = args.GetResult (Rate, 0.05)
            CalibrateAt = calibrationPointOf (args.GetResult (Calibrate_At, "highest"))
            LabelLoss = labelLossOf (args.GetResult (Label_Loss, "mse"))
            SelectedTaskOnly =
                match args.GetResult (Label_Target, "task") with
                | "all" -> false
                | "task" -> true
                | other -> invalidArg "label-target" $"'{other}' is neither all nor task" }
    let onEpoch (r: Training.HistoryEntry) =
        let perTask = String.Join ("/", r.BatchesPerTask)
        // Training samples over the epoch's wall time (which includes a per-epoch evaluation when the method has one).
        let rate = float data.TrainFrames.shape.[0] / max 1e-9 r.Seconds
        printfn $"epoch {r.Epoch,3}: loss {r.TrainLoss:F4}, train accuracy {100.0 * r.TrainAccuracy:F1}%% (batches per task {perTask}), {r.Seconds:F1} s, {rate:F0} samples/s"
        for line in describeLayers r do printfn "%s" line
    let history =
        match args.TryGetResult Learn_Thresholds with
        | None -> TmSnnTraining.train model trainer settings (data.TrainFrames, data.TrainClasses) None onBatch onEpoch Threading.CancellationToken.None
        | Some beta ->
            let outcome =
                ThresholdLearning.fit model trainer settings { ThresholdLearning.Settings.Default with SynOpsWeight = beta } data.TrainFrames data.TrainClasses onEpoch
            let learned = String.Join (", ", Tensors.toFloat64Array model.Thresholds |> Array.map (fun t -> t.ToString "F3"))
            printfn $"learned thresholds (beta = {beta}): {learned} after {outcome.Thresholds.Length} hyper steps"
            outcome.History
    // The thresholds the network now runs with (learned ones included), for what is printed and exported below.
    let thresholds = Tensors.toFloat64Array (model.Thresholds.detach ())
    let evaluations = TmSnnTraining.evaluate model 100 data.TestFrames data.TestClasses
    printfn "test, per task under its own threshold (spikes and SynOps per sample over the label path; the ANN twin's MACs):"
    for e in evaluations do printfn "  %s" (describe e)
    // The thesis's base case: each task learned alone at phi = 1.25 by the same network shape, recipe and budget.
    let reference =
        if not (args.Contains Single_Task_Reference) then [||]
        else
            [| for k in 0 .. taskCount - 1 ->
                let single = { config with Tasks = [| config.Tasks.[k] |]; Thresholds = [| 1.25 |]; Currents = [| 0.0 |]; TaskHidden = 0 }
                torch.manual_seed (int64 seed) |> ignore
                use st = new TmSnn(single)
                st.``to`` device |> ignore
                TmSnnTraining.fit st trainer { settings with Gamma = 0.0 } data.TrainFrames data.TrainClasses ignore |> ignore
                (TmSnnTraining.evaluate st 100 data.TestFrames data.TestClasses).[0].Report.Accuracy |]
    if reference.Length > 0 then
        printfn "test accuracy per task, TM-SNN (one network, task k at phi_k) against ST-SNN (one network per task at phi = 1.25, trained in this run):"
        for e in evaluations do
            printfn $"  task {e.Task + 1} {e.Name,-16} phi = {e.Threshold,-5} TM-SNN {100.0 * e.Report.Accuracy:F2}%%  ST-SNN {100.0 * reference.[e.Task]:F2}%%"
    // The checkpoint and the Loihi export read the weights on the CPU.
    model.``to`` torch.CPU |> ignore
    let checkpoint = Path.Combine (directory, "model.bin")
    AtomicFile.write checkpoint (fun p -> model.save p |> ignore)
    // Loihi: the label path quantized once; each task only changes the threshold mantissas.
    let loihiSamples = min (args.GetResult (Loihi_Samples, 100)) (int data.TestFrames.shape.[0])
    let loihi =
        if loihiSamples <= 0 then [||]
        else
            let subset = data.TestFrames.narrow (0L, 0L, int64 loihiSamples)
            let subsetClasses = data.TestClasses.narrow (0L, 0L, int64 loihiSamples)
            let deployed = TmSnnLoihi.deployToFolder ChipConstants.Loihi2 directory model data.BinMs subset subsetClasses
            let runs, clipped = deployed.Runs, deployed.ClipSummary
            printfn $"Loihi (bit-accurate emulator, {loihiSamples} test samples per task; quantized once, thresholds changed per task; {clipped}):"
            for r in runs do
                let samples = max 1 (r.Profile.Steps / r.StepsPerSample)
                let synOps = float (r.Profile.Layers |> Array.sumBy (fun l -> l.SynOps)) / float samples
                let energy = r.Profile.EnergyPerSample |> Option.map (fun e -> $"{e * 1e6:F3} uJ") |> Option.defaultValue "-"
                printfn $"  task {r.Task + 1} {config.Tasks.[r.Task].Name,-12} phi = {thresholds.[r.Task],-5} accuracy {100.0 * r.Accuracy:F2}%%  SynOps/sample {synOps:F0}  dynamic energy/sample {energy} ({r.Profile.Chip.Name})"
            printfn "wrote %s" (String.Join (", ", deployed.Files))
            runs
    let settingsList =
        [ "dataset", data.Name; "device", string device; "seed", string seed; "frames", string frames; "epochs", string trainer.Epochs
          "batch_size", string trainer.BatchSize; "learning_rate", string trainer.LearningRate; "gamma", string gamma
          "tasks", String.Join (", ", config.Tasks |> Array.map (fun t -> t.Name))
          "thresholds", String.Join (", ", thresholds)
          "layers", $"{config.Inputs}-{String.Join ('-', config.FeatureSizes)}-{config.LabelHidden}-{MultiTask.totalLabels config.Tasks}"
          "neuron", $"CuLIF (CUBA) tau_syn {config.Neuron.TauSyn} ms, tau_mem {config.Neuron.TauMem} ms, dt {config.Neuron.Dt} ms"
          "spike_gradient", $"%A{config.SpikeGradient}"; "label_loss", args.GetResult (Label_Loss, "mse")
          "single_task_reference_accuracy", String.Join (", ", reference |> Array.map (fun a -> a.ToString "F4")) ]
    let metrics = Path.Combine (directory, "metrics.json")
    AtomicFile.write metrics (fun p -> File.WriteAllText (p, TmSnnLoihi.metricsJson settingsList history evaluations loihi))
    let plots = TmSnnSetup.writePlots directory evaluations
    let events = TensorBoard.writeHistory (Path.Combine (directory, "tensorboard")) history.Entries
    printfn $"wrote {metrics}, {checkpoint}, {events} and {plots.Length} plots; wall time {clock.Elapsed.TotalSeconds:F1} s"
    0

/// Runs the command: options from --config, flags and --set; a run folder (--out, default runs/tmsnn-<timestamp>)
/// holding config.yaml and log.txt besides the results. Returns the process exit code.
let run (args: ParseResults<TmSnnArgs>) : int =
    let args = Vocabulary.layered args
    let directory = Vocabulary.runFolder "tmsnn" (args.TryGetResult Out)
    Directory.CreateDirectory directory |> ignore
    Vocabulary.writeEffectiveConfig directory args
    RunOutput.inRunFolder directory (trainIn args directory)
