/// `snn stdp`: trains the first-spike STDP / R-STDP network of Mozafari et al. (2018) layer by layer, on the built-in
/// MovingPatterns events by default or on Fashion-MNIST IDX files with `--data DIR`; prints per-layer and per-epoch
/// progress and the test accuracy, and writes metrics JSON and the checkpoint.
module Snn.Cli.StdpCommand

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open Argu
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules

/// Options of `snn stdp`.
type StdpArgs =
    | Data of directory: string
    | Train_Samples of int
    | Test_Samples of int
    | Layer_Samples of int
    | Layer_Epochs of int
    | Decision_Epochs of int
    | Features of list: string
    | Thresholds of list: string
    | Per_Class of int
    | Decision_Rate of float
    | Decision_Threshold of float
    | Rate_Decay of float
    | Adaptive
    | Doubling of int
    | Steps of int
    | Difficulty of int
    | Seed of int
    | Threads of int
    | Out of directory: string
    | Config of path: string
    | Set of assignment: string

    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Data _ -> "train on the Fashion-MNIST (or MNIST) IDX files in this folder instead of MovingPatterns"
            | Train_Samples _ -> "training samples (default: 1000 MovingPatterns, 3000 Fashion-MNIST)"
            | Test_Samples _ -> "test samples (default: 1000 MovingPatterns, 2000 Fashion-MNIST)"
            | Layer_Samples _ -> "samples per STDP pass of each conv layer (default: 600 MovingPatterns, 800 Fashion-MNIST)"
            | Layer_Epochs _ -> "STDP passes per conv layer (default 1)"
            | Decision_Epochs _ -> "R-STDP passes of the decision layer (default: 15 MovingPatterns, 12 Fashion-MNIST)"
            | Features _ -> "comma-separated features per conv layer (default: 16,48 MovingPatterns, 30,64 Fashion-MNIST)"
            | Thresholds _ -> "comma-separated firing thresholds per conv layer (default: 8,5 MovingPatterns, 15,10 Fashion-MNIST)"
            | Per_Class _ -> "decision neurons per class (default 10)"
            | Decision_Rate _ -> "multiplier of Mozafari's R-STDP rates of the decision layer (default: 50 MovingPatterns, 20 Fashion-MNIST)"
            | Decision_Threshold _ -> "firing threshold of the decision neurons; 0 = fire at the first positive potential (default: 8 MovingPatterns, 25 Fashion-MNIST)"
            | Rate_Decay _ -> "the R-STDP rate multiplier shrinks by this factor after every pass (default 0.8; 1 = constant)"
            | Adaptive -> "Mozafari's adaptive R-STDP rates (reward x error rate, punishment x hit rate) instead of constant ones"
            | Doubling _ -> "conv-layer STDP rate doubles every this many samples, up to 0.15 (default 100; 0 = never)"
            | Steps _ -> "time steps T of the latency code (default 15)"
            | Difficulty _ -> "MovingPatterns difficulty level 0-3 (default 0)"
            | Seed _ -> "seed of data, weights and sample order (default 0)"
            | Threads _ -> "intra-op threads (default: all cores)"
            | Out _ -> "run folder for metrics.json, the checkpoint, config.yaml and log.txt (default runs/stdp-<timestamp>)"
            | Config _ -> "a .json or .yaml file of these options in snake_case (e.g. features: [16, 48]); flags and --set override it"
            | Set _ -> "override one option, e.g. --set decision_epochs=5 (repeatable; applied last)"

/// A prepared data set: train and test first-spike times with labels, and the network shape.
type private Prepared =
    { Name: string
      Train: StdpTraining.LabelledTimes
      Test: StdpTraining.LabelledTimes
      Network: StdpNetworkSettings
      /// Default multiplier of the R-STDP rates.
      DecisionRate: float
      /// Default R-STDP passes.
      DecisionEpochs: int }

/// MovingPatterns: the first event of each pixel and polarity in T bins; conv 5×5 pad 2 → pool 2, conv 3×3 pad 1 →
/// pool 2, decision over the remaining 4×4 map.
let private movingPatterns (steps: int) (difficulty: int) (seed: int) (trainCount: int) (testCount: int) =
    let settings = MovingPatterns.Settings.Level difficulty
    let train, test = MovingPatterns.trainTest settings steps seed trainCount testCount
    let times (set: MovingPatterns.FrameSet) =
        { StdpTraining.Times = StdpInput.eventTimes settings.Size set.Frames
          StdpTraining.Labels = Tensors.toInt64Array set.Labels |> Array.map int }
    let network =
        let m = StdpNetworkSettings.Mozafari2018 2 settings.Size settings.Size MovingPatterns.classNames.Length
        { m with
            Steps = steps
            Layers =
                [| { m.Layers.[0] with Features = 16; Threshold = 8.0; PoolPadding = 0; Winners = 5; InhibitionRadius = 2 }
                   { m.Layers.[1] with Features = 48; Threshold = 5.0; PoolKernel = 2; PoolStride = 2; Winners = 8; InhibitionRadius = 1 } |]
            Decision = { m.Decision with FeaturesPerClass = 10; Threshold = 8.0 } }
    { Name = $"MovingPatterns (difficulty {difficulty})"; Train = times train; Test = times test; Network = network
      DecisionRate = 50.0; DecisionEpochs = 15 }

/// Fashion-MNIST (or MNIST) from IDX files: DoG (on/off 7×7) and intensity-to-latency, Mozafari 2018's shape.
let private imageFolder (folder: string) (steps: int) (trainCount: int) (testCount: int) =
    let load train count =
        let set = ImageSets.loadFolder folder train
        if count > set.Count then invalidArg "count" $"asks for {count} images, {folder} has {set.Count}"
        let images = StdpInput.imageTensor set 0 count
        { StdpTraining.Times = StdpInput.imageTimes StdpInput.ImageCode.Default steps images
          StdpTraining.Labels = set.Labels.[.. count - 1] |> Array.map int }
    let m = StdpNetworkSettings.Mozafari2018 StdpInput.ImageCode.Default.Sigmas.Length 28 28 10
    let network =
        { m with
            Steps = steps
            Layers = [| m.Layers.[0]; { m.Layers.[1] with Features = 64 } |]
            Decision = { m.Decision with FeaturesPerClass = 10; Threshold = 25.0 } }
    { Name = $"IDX images in {folder}"; Train = load true trainCount; Test = load false testCount; Network = network
      DecisionRate = 20.0; DecisionEpochs = 12 }

/// The metrics JSON of a run.
let metricsJson (settings: (string * string) list) (run: StdpTraining.StdpRunReport) (testAccuracy: float)
                (silent: float) (confusion: int[,]) (seconds: float) : string =
    Report.MetricsJson.document (fun w ->
     w.WriteStartObject ()
     Report.MetricsJson.writeSettings w settings
     w.WriteStartArray "layers"
     for r in run.Layers do
         w.WriteStartObject ()
         w.WriteNumber ("layer", r.Layer)
         w.WriteNumber ("epoch", r.Epoch)
         w.WriteNumber ("samples", r.Samples)
         w.WriteNumber ("mean_winners", r.MeanWinners)
         w.WriteNumber ("convergence", r.Convergence)
         w.WriteNumber ("potentiation", r.Potentiation)
         w.WriteNumber ("seconds", r.Seconds)
         w.WriteEndObject ()
     w.WriteEndArray ()
     w.WriteStartArray "decision"
     for r in run.Decision do
         w.WriteStartObject ()
         w.WriteNumber ("epoch", r.Epoch)
         w.WriteNumber ("train_accuracy", r.TrainAccuracy)
         w.WriteNumber ("silent", r.Silent)
         w.WriteNumber ("seconds", r.Seconds)
         w.WriteEndObject ()
     w.WriteEndArray ()
     w.WriteNumber ("test_accuracy", testAccuracy)
     w.WriteNumber ("test_silent", silent)
     Report.MetricsJson.writeMatrix w "confusion" confusion
     w.WriteNumber ("seconds", seconds)
     w.WriteEndObject ())

/// Trains and tests as `args` say, writing into the run folder `out`; returns the exit code.
let private trainIn (args: ParseResults<StdpArgs>) (out: string) : int =
    let clock = Stopwatch.StartNew ()
    args.TryGetResult Threads |> Option.iter (Snn.Limits.setThreads "--threads")
    let folder = args.TryGetResult Data
    let fashion = folder.IsSome
    let steps = args.GetResult (Steps, 15)
    let seed = args.GetResult (Seed, 0)
    let trainCount = args.GetResult (Train_Samples, (if fashion then 3000 else 1000))
    let testCount = args.GetResult (Test_Samples, (if fashion then 2000 else 1000))
    if trainCount < 1 then invalidArg "train-samples" $"must be >= 1, got {trainCount}"
    if testCount < 1 then invalidArg "test-samples" $"must be >= 1, got {testCount}"
    let prepared =
        match folder with
        | Some dir -> imageFolder dir steps trainCount testCount
        | None -> movingPatterns steps (args.GetResult (Difficulty, 0)) seed trainCount testCount
    let network =
        let n = prepared.Network
        let features = args.TryGetResult Features |> Option.map (CommaLists.integers "features")
        let thresholds = args.TryGetResult Thresholds |> Option.map (CommaLists.floats "thresholds")
        let layers =
            n.Layers |> Array.mapi (fun i l ->
                let pick (values: 'a[] option) (current: 'a) name =
                    match values with
                    | Some v when v.Length <> n.Layers.Length -> invalidArg name $"needs {n.Layers.Length} values, got {v.Length}"
                    | Some v -> v.[i]
                    | None -> current
                { l with Features = pick features l.Features "features"; Threshold = pick thresholds l.Threshold "thresholds" })
        { n with Layers = layers; Seed = int64 seed
                 Decision =
                    { n.Decision with
                        FeaturesPerClass = args.GetResult (Per_Class, n.Decision.FeaturesPerClass)
                        Threshold = args.GetResult (Decision_Threshold, n.Decision.Threshold) } }
    let layerSchedule =
        { StdpTraining.LayerSchedule.Default with
            Epochs = args.GetResult (Layer_Epochs, 1)
            Samples = args.GetResult (Layer_Samples, (if fashion then 800 else 600))
            RateDoublingInterval = args.GetResult (Doubling, 100) }
    let training: StdpTraining.StdpTrainingSettings =
        { Layers = Array.create network.Layers.Length layerSchedule
          Decision =
            { StdpTraining.DecisionSchedule.Default with
                Epochs = args.GetResult (Decision_Epochs, prepared.DecisionEpochs)
                RateScale = args.GetResult (Decision_Rate, prepared.DecisionRate)
                RateDecay = args.GetResult (Rate_Decay, 0.8)
                Adaptive = args.Contains Adaptive }
          Seed = seed
          BatchSize = 64 }
    let checkpoint = Path.Combine (out, "stdp-network.bin")
    printfn "[stdp] %s: %d training, %d test samples, T = %d, layers %s, prepared in %.1f s" prepared.Name trainCount testCount
        steps (network.Layers |> Array.map (fun l -> $"{l.Features}@θ{l.Threshold}") |> String.concat " → ") clock.Elapsed.TotalSeconds
    use net = new StdpNetwork (network)
    let run =
        StdpTraining.train net training prepared.Train (Some checkpoint)
            (fun r ->
                printfn "[stdp] layer %d epoch %d: %d samples, %.2f winners/sample, convergence %.4f, a+ %.4f, %.1f s"
                    r.Layer r.Epoch r.Samples r.MeanWinners r.Convergence r.Potentiation r.Seconds)
            (fun r ->
                printfn "[stdp] decision epoch %d: train accuracy %.4f, silent %.4f, %.1f s" r.Epoch r.TrainAccuracy r.Silent r.Seconds)
    let testInputs = StdpTraining.decisionInputs net training.BatchSize prepared.Test
    let predictions = StdpTraining.predictDecisions net training.BatchSize testInputs
    let accuracy = StdpTraining.accuracy predictions prepared.Test.Labels
    let silent = float (predictions |> Array.filter (fun p -> p < 0) |> Array.length) / float predictions.Length
    let classes = network.Decision.Classes
    let confusion =
        Metrics.confusionMatrix classes
            (predictions |> Array.map (fun p -> int64 (max p 0)))
            (prepared.Test.Labels |> Array.map int64)
    printfn "[stdp] test accuracy %.4f (chance %.4f), no decision on %.4f, total %.1f s" accuracy (1.0 / float classes) silent clock.Elapsed.TotalSeconds
    let settings =
        [ "data", prepared.Name; "train_samples", string trainCount; "test_samples", string testCount; "steps", string steps
          "features", (network.Layers |> Array.map (fun l -> string l.Features) |> String.concat ",")
          "thresholds", (network.Layers |> Array.map (fun l -> string l.Threshold) |> String.concat ",")
          "layer_samples", string layerSchedule.Samples; "layer_epochs", string layerSchedule.Epochs
          "decision_epochs", string training.Decision.Epochs; "decision_rate", string training.Decision.RateScale
          "rate_decay", string training.Decision.RateDecay; "adaptive", string training.Decision.Adaptive
          "doubling", string layerSchedule.RateDoublingInterval; "per_class", string network.Decision.FeaturesPerClass
          "decision_threshold", string network.Decision.Threshold
          "seed", string seed ]
    let metricsPath = Path.Combine (out, "metrics.json")
    let json = metricsJson settings run accuracy silent confusion clock.Elapsed.TotalSeconds
    AtomicFile.write metricsPath (fun p -> File.WriteAllText (p, json))
    printfn "[stdp] wrote %s and %s" metricsPath checkpoint
    0

/// Runs `snn stdp`: options from --config, flags and --set; a run folder (--out, default runs/stdp-<timestamp>)
/// holding config.yaml and log.txt besides the results. Returns the exit code.
let run (args: ParseResults<StdpArgs>) : int =
    let args = Vocabulary.layered args
    // A missing data folder is refused before a run folder is made for it.
    args.TryGetResult Data |> Option.iter (fun folder ->
        if not (Directory.Exists folder) then invalidArg "--data" $"{folder}: no such folder (the IDX files' folder)")
    let out = Vocabulary.runFolder "stdp" (args.TryGetResult Out)
    Directory.CreateDirectory out |> ignore
    Vocabulary.writeEffectiveConfig out args
    RunOutput.withLog (Path.Combine (out, "log.txt")) (fun () -> trainIn args out)
