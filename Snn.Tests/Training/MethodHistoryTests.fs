/// Every training method is a configuration of the one trainer (`Trainer.run`). These tests pin what the merge
/// promised: a seeded run of each method gives the history the method's own loop gave before the merge, and the
/// methods that had no checkpoints before (TM-SNN, AL-SNN, AuxiLearn, learned thresholds) resume exactly.
///
/// The expected histories were recorded with the six separate loops at commit 766fa80 ("One seeded shuffle"), the
/// last commit before they merged, by running the same settings through their old entry points (`Training.fit`,
/// `Training.train`, `TmSnnTraining.fit`, `ThresholdLearning.fit`, `AuxiliaryLearning.fit`, `AuxiLearn.fit`). That
/// commit changed only the shuffle of the three loops that drew one `Random(seed)` across epochs (`Training.fit`,
/// TM-SNN, learned thresholds) to the one seeded shuffle `Random(seed + epoch)` every other loop already used, which
/// a resumed run needs; their histories before it differ by that order alone. The runs are one-threaded, so the
/// float reductions are in a fixed order.
module Snn.Tests.MethodHistoryTests

open System
open System.IO
open Expecto
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons
open Snn.Tests.Assertions

/// (epoch, training loss, training accuracy, last column) of a run: the test accuracy, the mean task accuracy
/// (TM-SNN) or the sum of the learned thresholds (threshold learning).
type private Row = int * float * float * float

let private expectHistory (name: string) (expected: Row list) (actual: Row list) =
    Expect.equal actual.Length expected.Length $"{name}: epochs"
    for (e, loss, train, last), (e', loss', train', last') in List.zip expected actual do
        Expect.equal e' e $"{name}: epoch"
        Expect.floatClose { absolute = 1e-6; relative = 1e-6 } loss' loss $"{name}: training loss of epoch {e}"
        Expect.floatClose { absolute = 1e-9; relative = 1e-9 } train' train $"{name}: training accuracy of epoch {e}"
        Expect.floatClose { absolute = 1e-6; relative = 1e-6 } last' last $"{name}: last column of epoch {e}"

/// Runs `f` with one intra-op thread (a fixed reduction order), restoring the previous count.
let private oneThread (f: unit -> 'a) : 'a =
    let threads = torch.get_num_threads ()
    torch.set_num_threads 1
    try f () finally torch.set_num_threads threads

let private movingPatterns = lazy (MovingPatterns.trainTest MovingPatterns.Settings.Default 20 4 96 48)

let private dense () =
    torch.manual_seed 4L |> ignore
    new DenseSnn(512, 24, 10, { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }, 8.0)

let private tmSnnData =
    lazy (
        let set = MovingPatterns.frameSet MovingPatterns.Settings.Default 6 0 0 40
        set.Frames.gt(torch.tensor 0.0f).``to`` torch.float32, set.Labels)

let private tmSnnConfig kernel =
    { TmSnnConfig.Thesis 512 MultiTask.movingPatternTasks.[0..1] with
        FeatureSizes = [| 16; 16 |]; LabelHidden = 8; TaskHidden = 8; Kernel = kernel
        Neuron = { CuLifParameters.Default with Dt = 33.0; VThreshold = 1.25 } }

let private auxiliaryData =
    lazy (
        let train, test = MovingPatterns.trainTest MovingPatterns.Settings.Default 4 0 48 16
        let flat (s: MovingPatterns.FrameSet) = s.Frames.flatten (2L), s.Labels
        flat train, flat test)

let private auxiliaryTasks () = [| AuxiliaryTasks.MovingPatterns.a2; AuxiliaryTasks.MovingPatterns.a4 4 |]

let private alSnn () =
    let (train, _), _ = auxiliaryData.Force ()
    torch.manual_seed 5L |> ignore
    AlSnn.Mlp (int train.shape.[2], [| 24 |], 10, auxiliaryTasks () |> Array.map (fun t -> t.LabelCount), PlifParameters.Default, 6.0)

let private auxiliaryTrainer = { AuxiliaryLearning.trainerDefaults with Epochs = 2; BatchSize = 16; LearningRate = 3e-3 }

let private rows (history: Training.History) : Row list =
    [ for e in history.Entries -> e.Epoch, e.TrainLoss, e.TrainAccuracy, e.TestAccuracy ]

let private plainRun (m: DenseSnn) =
    let train, test = movingPatterns.Force ()
    // The history pinned below predates the calibrated initialisation: it is the loop's history, uncalibrated.
    let settings = { Training.TrainerSettings.Default with Epochs = 2; BatchSize = 16; LearningRate = 5e-3; Calibration = NoCalibration }
    Trainer.train m settings (train.Frames, train.Labels) (test.Frames, test.Labels) ignore Threading.CancellationToken.None

/// TM-SNN's settings when the histories were recorded: its calibration then ran at the thresholds' geometric mean.
let private recordedTmSnn = { TmSnnTraining.Settings.Default with CalibrateAt = TmSnnTraining.GeometricMeanThreshold }

let private tmSnnRun (model: TmSnn) (trainer: Training.TrainerSettings) =
    let frames, labels = tmSnnData.Force ()
    TmSnnTraining.fit model trainer { recordedTmSnn with Gamma = 0.3 } frames labels ignore

let private tmSnnTrainer = { TmSnnTraining.trainerDefaults with Epochs = 2; BatchSize = 10 }

let private auxiLearnRun (model: AlSnn) (h: LinearLossCombiner) (trainer: Training.TrainerSettings) =
    let train, test = auxiliaryData.Force ()
    let settings = { AuxiLearn.Settings.Default with Bilevel = { AuxiLearn.Settings.Default.Bilevel with Interval = 1 }; AuxiliaryFraction = 0.25 }
    AuxiLearn.fit model h trainer { AuxiliaryLearning.Settings.Default with Tasks = auxiliaryTasks () } settings train test ignore

let private inFolder (f: string -> unit) =
    let dir = Path.Combine (Path.GetTempPath (), $"snn-methods-{Guid.NewGuid():N}")
    try f dir finally if Directory.Exists dir then Directory.Delete (dir, true)

let tests =
    testList "MethodHistory" [
        test "the plain classifier (Training.train and Training.fit before the merge) keeps its history" {
            oneThread (fun () ->
                use m = dense ()
                rows (plainRun m)
                |> expectHistory "classifier" [ 1, 5.42853149, 0.104166667, 0.104166667; 2, 5.29373606, 0.104166667, 0.104166667 ])
        }
        test "TM-SNN keeps its history" {
            oneThread (fun () ->
                torch.manual_seed 6L |> ignore
                use model = new TmSnn (tmSnnConfig Fused)
                let history = tmSnnRun model tmSnnTrainer
                let frames, labels = tmSnnData.Force ()
                let mean = TmSnnTraining.evaluate model 16 frames labels |> Array.averageBy (fun t -> t.Report.Accuracy)
                [ for e in history.Entries -> e.Epoch, e.TrainLoss, e.TrainAccuracy, mean ]
                |> expectHistory "TM-SNN" [ 1, 0.785565704, 0.175, 0.325; 2, 0.554408059, 0.3, 0.325 ])
        }
        test "learned thresholds keep their history" {
            oneThread (fun () ->
                torch.manual_seed 6L |> ignore
                use model = new TmSnn (tmSnnConfig Reference)
                let frames, labels = tmSnnData.Force ()
                let settings =
                    { ThresholdLearning.Settings.Default with
                        SynOpsWeight = 50.0; Bilevel = { ThresholdLearning.Settings.Default.Bilevel with Interval = 1; HyperLearningRate = 0.2 } }
                let outcome = ThresholdLearning.fit model { TmSnnTraining.trainerDefaults with Epochs = 2; BatchSize = 8 } recordedTmSnn settings frames labels ignore
                let thresholds = List.last outcome.Thresholds |> Array.sum
                [ for e in outcome.History.Entries -> e.Epoch, e.TrainLoss, e.TrainAccuracy, thresholds ]
                |> expectHistory "thresholds" [ 1, 0.131510414, 0.125, 8.21322751; 2, 0.0332031241, 0.1875, 8.21322751 ])
        }
        test "AL-SNN with a manual combiner keeps its history" {
            oneThread (fun () ->
                use model = alSnn ()
                let train, test = auxiliaryData.Force ()
                let settings = { AuxiliaryLearning.Settings.Default with Tasks = auxiliaryTasks (); Combine = AuxiliaryLearning.manual 0.4 [| 1.0; 1.0 |] }
                rows (AuxiliaryLearning.fit model auxiliaryTrainer settings train test ignore)
                |> expectHistory "AL-SNN" [ 1, 2.23315112, 0.104166667, 0.125; 2, 2.2106212, 0.104166667, 0.125 ])
        }
        test "AuxiLearn keeps its history" {
            oneThread (fun () ->
                use model = alSnn ()
                use h = new LinearLossCombiner (2, 0.25)
                rows (auxiLearnRun model h auxiliaryTrainer)
                |> expectHistory "AuxiLearn" [ 1, 2.78420051, 0.111111111, 0.125; 2, 2.85653877, 0.0833333333, 0.125 ])
        }
        test "TM-SNN resumed after its first epoch ends where an uninterrupted run ends" {
            oneThread (fun () ->
                inFolder (fun dir ->
                    let run (trainer: Training.TrainerSettings) =
                        torch.manual_seed 6L |> ignore
                        use model = new TmSnn (tmSnnConfig Fused)
                        let history = tmSnnRun model trainer
                        history, (model.parameters () |> Seq.map values |> Array.concat)
                    let whole, wholeWeights = run tmSnnTrainer
                    let first, _ = run { tmSnnTrainer with Epochs = 1; CheckpointDirectory = Some dir }
                    Expect.equal first.Entries.Length 1 "one epoch saved"
                    let resumed, resumedWeights = run { tmSnnTrainer with CheckpointDirectory = Some dir; Resume = true }
                    Expect.equal (resumed.Entries |> Array.map (fun e -> e.Epoch)) [| 1; 2 |] "the saved epoch and the new one"
                    Expect.floatClose Accuracy.high resumed.Entries.[1].TrainLoss whole.Entries.[1].TrainLoss "the second epoch trains the same batches and tasks"
                    Expect.sequenceEqual resumedWeights wholeWeights "the same final weights"))
        }
        test "AuxiLearn checkpoints its combiner and resumes exactly" {
            oneThread (fun () ->
                inFolder (fun dir ->
                    let run (trainer: Training.TrainerSettings) =
                        use model = alSnn ()
                        use h = new LinearLossCombiner (2, 0.25)
                        let history = auxiLearnRun model h trainer
                        history, h.Weights.data<float32>().ToArray ()
                    let whole, wholeGamma = run auxiliaryTrainer
                    run { auxiliaryTrainer with Epochs = 1; CheckpointDirectory = Some dir } |> ignore
                    Expect.isSome (Training.Checkpoint.extraFile dir "hyper.bin") "the combiner is saved in the checkpoint folder"
                    Expect.isSome (Training.Checkpoint.extraFile dir "hyper-optimizer.bin") "so is its optimiser's state"
                    let resumed, resumedGamma = run { auxiliaryTrainer with CheckpointDirectory = Some dir; Resume = true }
                    Expect.floatClose Accuracy.high resumed.Entries.[1].TrainLoss whole.Entries.[1].TrainLoss "same second epoch"
                    Expect.equal resumed.HyperSteps.Length (whole.HyperSteps.Length / 2) "the resumed run took the second epoch's hyper steps"
                    Expect.equal resumedGamma wholeGamma "the same learned combiner"))
        }
        test "early stopping without an evaluation is refused, naming the setting" {
            use model = new TmSnn (tmSnnConfig Fused)
            let frames, labels = tmSnnData.Force ()
            let e =
                Expect.throwsC (fun () ->
                    TmSnnTraining.fit model { tmSnnTrainer with EarlyStoppingPatience = Some 2 } recordedTmSnn frames labels ignore |> ignore) id
            Expect.stringContains e.Message "EarlyStoppingPatience" "names the setting"
        }
    ]
