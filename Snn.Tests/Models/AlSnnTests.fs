/// Auxiliary learning (AL-SNN, thesis ch. 3): label maps, the fig. 8 network and its mode switch, per-sample losses
/// and combiners (eq. 3.3), training, and the `auxiliary` experiment suite.
module Snn.Tests.AlSnnTests

open System
open System.IO
open System.Text.Json
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Tests.Assertions

/// Raises the ArgumentException of `f`, checking the parameter name and that the message mentions `fragment`.
let private rejects (name: string) (fragment: string) (f: unit -> unit) =
    match Expect.throwsC f id with
    | :? ArgumentException as e ->
        Expect.equal e.ParamName name $"names {name}"
        Expect.stringContains e.Message fragment "explains the error"
    | other -> failtestf "expected ArgumentException, got %O" other

let private labels (values: int64[]) = torch.tensor values

/// A small AL-SNN on flattened inputs [T; B; 24] with tasks of 2 and 5 labels.
let private smallModel () =
    torch.manual_seed 3L |> ignore
    AlSnn.Mlp (24, [| 16 |], 10, [| 2; 5 |], Neurons.PlifParameters.Default, 6.0)

let private input (steps: int64) (batch: int64) =
    torch.manual_seed 5L |> ignore
    torch.rand([| steps; batch; 24L |]).lt(torch.tensor 0.3f).to_type (torch.float32)

let private snapshot (parameters: TorchSharp.Modules.Parameter[]) =
    parameters |> Array.map (fun p -> p.detach().clone ())

let private changed (before: torch.Tensor[]) (parameters: TorchSharp.Modules.Parameter[]) =
    Array.exists2 (fun (b: torch.Tensor) (p: TorchSharp.Modules.Parameter) -> (b - p.detach ()).abs().max().ToDouble () > 0.0) before parameters

let labelMapTests =
    testList "label maps" [
        test "the thesis maps of table 3 and the user-defined maps have the stated label counts" {
            Expect.equal AuxiliaryTasks.Cifar10Dvs.a2.ClassToLabel [| 0; 0; 1; 1; 1; 1; 1; 1; 0; 0 |] "CIFAR10-DVS A2: living vs non-living"
            Expect.equal (AuxiliaryTasks.Cifar10Dvs.a3.ClassToLabel.[4], AuxiliaryTasks.Cifar10Dvs.a3.ClassToLabel.[7]) (4, 4) "deer and horse share group 4"
            Expect.equal [ AuxiliaryTasks.Cifar10Dvs.a1.LabelCount; AuxiliaryTasks.Cifar10Dvs.a2.LabelCount; AuxiliaryTasks.Cifar10Dvs.a3.LabelCount ] [ 10; 2; 6 ] "CIFAR10-DVS"
            Expect.equal [ AuxiliaryTasks.DvsGesture.a1.LabelCount; AuxiliaryTasks.DvsGesture.a2.LabelCount; AuxiliaryTasks.DvsGesture.a3.LabelCount ] [ 11; 6; 5 ] "DVS128 Gesture"
            Expect.equal AuxiliaryTasks.DvsGesture.a2.ClassToLabel [| 1; 3; 2; 3; 3; 2; 2; 0; 0; 4; 5 |] "Gesture A2"
            Expect.equal AuxiliaryTasks.FashionMnist.a3.ClassToLabel [| 0; 1; 0; 0; 0; 2; 0; 2; 3; 2 |] "tops / bottoms / footwear / bags"
            Expect.equal AuxiliaryTasks.MovingPatterns.a3.LabelCount 5 "MovingPatterns axes of motion"
            Expect.equal (AuxiliaryTasks.MovingPatterns.a2.ClassToLabel |> Array.sum) 2 "two rotation classes"
            Expect.equal [ AuxiliaryTasks.Digits.a1.LabelCount; AuxiliaryTasks.Digits.a2.LabelCount; AuxiliaryTasks.Digits.a3.LabelCount ] [ 10; 2; 3 ] "digits"
            Expect.equal AuxiliaryTasks.Digits.a2.ClassToLabel.[7] 1 "7 is odd"
            Expect.equal [ for d in [ 0; 6; 8; 9 ] -> AuxiliaryTasks.Digits.a3.ClassToLabel.[d] ] [ 0; 0; 0; 0 ] "digits with closed loops share a group"
        }
        test "the random task uses every label, is reproducible by seed and differs between seeds" {
            let a = AuxiliaryTasks.random "A4" 10 4 7
            Expect.equal a.LabelCount 4 "four labels"
            Expect.equal (a.ClassToLabel |> Array.countBy id |> Array.map snd |> Array.sort) [| 2; 2; 3; 3 |] "balanced groups"
            Expect.equal (AuxiliaryTasks.random "A4" 10 4 7).ClassToLabel a.ClassToLabel "same seed, same map"
            let others = [ 0 .. 9 ] |> List.map (fun s -> (AuxiliaryTasks.random "A4" 10 4 s).ClassToLabel)
            Expect.isGreaterThan (others |> List.distinct |> List.length) 1 "seeds give different maps"
        }
        test "validation rejects unmapped classes, gaps, negative labels and one-label tasks with clear messages" {
            rejects "map" "maps 9 classes, the dataset has 10" (fun () -> LabelMap.validate 10 { Name = "short"; LabelNames = [| "0"; "1" |]; ClassToLabel = Array.zeroCreate 9 } |> ignore)
            rejects "map" "no class maps to 1" (fun () -> LabelMap.ofLabels "gap" [| 0; 2; 2; 0 |] |> ignore)
            rejects "map" "maps class 1 to label -1" (fun () -> LabelMap.ofLabels "negative" [| 0; -1; 1 |] |> ignore)
            rejects "map" "single label" (fun () -> LabelMap.ofLabels "constant" [| 0; 0; 0 |] |> ignore)
            rejects "groups" "class 2 is in no group" (fun () -> AuxiliaryTasks.ofGroups "missing" 3 [| [| 0 |]; [| 1 |] |] |> ignore)
            rejects "groups" "class 1 is in group 0 and in group 1" (fun () -> AuxiliaryTasks.ofGroups "twice" 3 [| [| 0; 1 |]; [| 1; 2 |] |] |> ignore)
            rejects "groups" "'Hat' is not a class" (fun () ->
                AuxiliaryTasks.ofNamedGroups "hats" [| "Bag"; "Hat0" |] [ "a", [ "Bag" ]; "b", [ "Hat" ] ] |> ignore)
            rejects "classes" "outside the 10 classes" (fun () -> LabelMap.apply AuxiliaryTasks.Cifar10Dvs.a2 (labels [| 3L; 10L |]) |> ignore)
        }
        test "relabel maps main labels to auxiliary labels" {
            let mapped = LabelMap.apply AuxiliaryTasks.Cifar10Dvs.a3 (labels [| 0L; 5L; 7L; 9L |])
            Expect.equal (Tensors.toInt64Array mapped) [| 0L; 3L; 4L; 1L |] "table 3, column A3"
        }
    ]

let networkTests =
    testList "network" [
        test "training runs give main and auxiliary votes; the VGG variant has the same outputs" {
            use model = smallModel ()
            model.train ()
            let out = model.Run (input 4L 3L)
            Expect.equal out.Main.shape [| 4L; 3L; 10L |] "main votes [T; B; classes]"
            Expect.equal (out.Auxiliary |> Array.map (fun a -> a.shape)) [| [| 4L; 3L; 2L |]; [| 4L; 3L; 5L |] |] "one output per task"
            torch.manual_seed 1L |> ignore
            use vgg = AlSnn.Vgg (2, 8, 8, 2, 4, 10, [| 3 |], Neurons.PlifParameters.Default)
            let vout = vgg.Run (torch.rand ([| 3L; 2L; 2L; 8L; 8L |]))
            Expect.equal vout.Main.shape [| 3L; 2L; 10L |] "VGG main votes"
            Expect.equal vout.Auxiliary.[0].shape [| 3L; 2L; 3L |] "VGG auxiliary votes"
            Expect.equal (vgg.MainClassifier.Features, vgg.AuxiliaryClassifiers.[0].Votes) (16, 10) "4 channels × 2 × 2 features, 10 votes"
        }
        test "evaluation uses the main path only: auxiliary heads change nothing and get no gradient" {
            use model = smallModel ()
            let x = input 5L 4L
            model.eval ()
            let before = model.forward(x).detach().clone ()
            do
                use _ = torch.no_grad ()
                for p in model.AuxiliaryParameters () do p.add_ (torch.randn_like p * 10.0) |> ignore
            let out = model.Run x
            Expect.isEmpty out.Auxiliary "no auxiliary output in evaluation"
            Expect.equal ((before - out.Main.detach ()).abs().max().ToDouble ()) 0.0 "the output does not depend on the auxiliary heads"
            Expect.isGreaterThan (before.sum().ToDouble ()) 0.0 "the main path fires"
            model.zero_grad ()
            out.Main.sum().backward ()
            for p in model.AuxiliaryParameters () do
                Expect.isTrue (isNull (box p.grad) || p.grad.abs().sum().ToDouble () = 0.0) "auxiliary parameters get no gradient"
            Expect.isTrue (model.MainPathParameters () |> Array.exists (fun p -> not (isNull (box p.grad)) && p.grad.abs().sum().ToDouble () > 0.0)) "the main path does"
        }
        test "a task list that does not fit the heads is rejected" {
            use model = smallModel ()
            let x = input 2L 2L
            rejects "tasks" "has 1 auxiliary tasks for a model with 2" (fun () ->
                AuxiliaryLearning.perSampleLosses model [| AuxiliaryTasks.MovingPatterns.a2 |] AuxiliaryLearning.crossEntropyOnCounts x (labels [| 0L; 1L |]) |> ignore)
            rejects "tasks" "has 5 labels, its classifier has 2 outputs" (fun () ->
                AuxiliaryLearning.perSampleLosses model [| AuxiliaryTasks.MovingPatterns.a3; AuxiliaryTasks.MovingPatterns.a3 |] AuxiliaryLearning.crossEntropyOnCounts x (labels [| 0L; 1L |]) |> ignore)
        }
    ]

let lossTests =
    testList "losses" [
        test "per-sample cross-entropy averages to the batch loss; one-hot rate MSE matches a hand value" {
            torch.manual_seed 2L |> ignore
            let z = torch.rand ([| 3L; 4L; 5L |], dtype = torch.float64)
            let y = labels [| 0L; 4L; 2L; 2L |]
            let perSample = AuxiliaryLearning.crossEntropyOnCounts z y
            Expect.equal perSample.shape [| 4L |] "one loss per sample"
            allClose 1e-12 (values (Loss.crossEntropyOnCounts z y)) [| perSample.mean().ToDouble () |] "mean = batch loss"
            // Rates [0.5, 1] for label 1: ((0.5 - 0)² + (1 - 1)²) / 2.
            let spikes = shaped [| 2L; 1L; 2L |] [| 1.0; 1.0; 0.0; 1.0 |]
            allClose 1e-12 [| 0.125 |] (values (AuxiliaryLearning.mseOneHotRate spikes (labels [| 1L |]))) "hand value"
        }
        test "eq. 3.3 on per-sample losses: α = 0 is the main loss, otherwise Loss.auxiliary of the batch means" {
            torch.manual_seed 4L |> ignore
            let main = torch.rand ([| 6L |], dtype = torch.float64)
            let aux = torch.rand ([| 6L; 3L |], dtype = torch.float64)
            let gammas = [| 1.0; 0.5; 2.0 |]
            allClose 1e-12 [| main.mean().ToDouble () |] (values (AuxiliaryLearning.manual 0.0 gammas main aux)) "α = 0"
            let columns = Array.init 3 (fun i -> aux.select(1L, int64 i).mean ())
            let expected = Loss.auxiliary 0.3 gammas (main.mean ()) columns
            allClose 1e-12 (values expected) (values (AuxiliaryLearning.manual 0.3 gammas main aux)) "α = 0.3"
            allClose 1e-12 [| main.mean().ToDouble () |] (values (AuxiliaryLearning.mainOnly main aux)) "main only"
            rejects "auxPerSample" "[B; 2]" (fun () -> AuxiliaryLearning.manual 0.5 [| 1.0; 1.0 |] main aux |> ignore)
            rejects "alpha" "[0, 1]" (fun () -> AuxiliaryLearning.manual 1.5 [||] |> ignore)
        }
    ]

let trainingTests =
    testList "training" [
        test "a step with α = 0 leaves the auxiliary heads unchanged; α > 0 trains them and the main path" {
            for alpha, auxTrained in [ 0.0, false; 0.5, true ] do
                use model = smallModel ()
                let optimizer = torch.optim.Adam (model.parameters (), 1e-2)
                let tasks = [| AuxiliaryTasks.MovingPatterns.a2; AuxiliaryTasks.MovingPatterns.a3 |]
                let settings = { AuxiliaryLearning.Settings.Default with Tasks = tasks; Combine = AuxiliaryLearning.manual alpha [| 1.0; 1.0 |] }
                let aux, main = snapshot (model.AuxiliaryParameters ()), snapshot (model.MainPathParameters ())
                let r = AuxiliaryLearning.step model optimizer settings (input 4L 6L) (labels [| 0L; 1L; 8L; 9L; 4L; 2L |])
                Expect.equal r.AuxiliaryLosses.Length 2 "one loss per task"
                Expect.isTrue (r.AuxiliaryLosses |> Array.forall (fun v -> v > 0.0 && Double.IsFinite v)) "finite auxiliary losses"
                Expect.equal (changed aux (model.AuxiliaryParameters ())) auxTrained $"auxiliary heads trained at α = {alpha}"
                Expect.isTrue (changed main (model.MainPathParameters ())) $"main path trained at α = {alpha}"
        }
        test "a learned combiner plugs in as a function of the per-sample losses" {
            use model = smallModel ()
            let weights = torch.tensor([| 0.7; 0.3 |]).``to``(torch.float32).requires_grad_ true
            let combine : AuxiliaryLearning.Combiner = fun m a -> m.mean () + (a * weights).sum(1L).mean ()
            let optimizer = torch.optim.Adam (model.parameters (), 1e-3)
            let settings = { AuxiliaryLearning.Settings.Default with Tasks = [| AuxiliaryTasks.MovingPatterns.a2; AuxiliaryTasks.MovingPatterns.a3 |]; Combine = combine }
            AuxiliaryLearning.step model optimizer settings (input 3L 4L) (labels [| 0L; 9L; 3L; 8L |]) |> ignore
            Expect.isFalse (isNull (box weights.grad)) "the combiner's own parameters receive the gradient of the training loss"
        }
        test "fit reports every epoch with the main-task test accuracy" {
            use model = smallModel ()
            let train = (input 4L 12L).transpose(0L, 1L).contiguous ()
            let y = labels (Array.init 12 (fun i -> int64 (i % 10)))
            let settings =
                { AuxiliaryLearning.Settings.Default with
                    Tasks = [| AuxiliaryTasks.MovingPatterns.a2; AuxiliaryTasks.MovingPatterns.a3 |]
                    Combine = AuxiliaryLearning.manual 0.4 [| 1.0; 1.0 |] }
            let history = AuxiliaryLearning.fit model { AuxiliaryLearning.trainerDefaults with Epochs = 2; BatchSize = 6 } settings (train, y) (train, y) ignore
            Expect.equal (history.Entries |> Array.map (fun r -> r.Epoch)) [| 1; 2 |] "two epochs"
            for r in history.Entries do
                Expect.isTrue (Double.IsFinite r.TrainLoss && r.TestAccuracy >= 0.0 && r.TestAccuracy <= 1.0) "finite loss, accuracy in [0, 1]"
        }
    ]

let experimentTests =
    testList "experiment" [
        test "snn experiment --suite auxiliary --quick writes the tables as JSON and Markdown" {
            let directory = Path.Combine (Path.GetTempPath (), $"snn-aux-{Guid.NewGuid ():N}")
            try
                let code, out, err = runSnn [ "experiment"; "--suite"; "auxiliary"; "--quick"; "--seeds"; "0"; "--out"; directory ]
                Expect.equal code 0 $"exit code (stderr: {err})"
                Expect.stringContains out "event Fashion-MNIST skipped" "says why Fashion-MNIST is not run"
                for id in [ "moving-table4-5-alpha"; "moving-table6-tasks"; "moving-gamma" ] do
                    let json = Path.Combine (directory, "auxiliary", id + ".json")
                    Expect.isTrue (File.Exists json && File.Exists (Path.ChangeExtension (json, ".md"))) $"{id} written"
                use doc = JsonDocument.Parse (File.ReadAllText (Path.Combine (directory, "auxiliary", "moving-table6-tasks.json")))
                let rows = doc.RootElement.GetProperty("rows").EnumerateArray () |> Seq.toList
                Expect.equal rows.Length 5 "baseline, best single task, 2T, 3T, 4T"
                for row in rows do
                    let acc = row.GetProperty("values").GetProperty("test accuracy [%]").GetProperty("mean").GetDouble ()
                    Expect.isTrue (acc >= 0.0 && acc <= 100.0) "an accuracy in percent"
                let markdown = File.ReadAllText (Path.Combine (directory, "auxiliary", "moving-table4-5-alpha.md"))
                Expect.stringContains markdown "| ST-SNN (main task only) |" "baseline row"
                Expect.stringContains markdown "| AL-SNN α=0.5 |" "α row"
            finally
                if Directory.Exists directory then Directory.Delete (directory, true)
        }
        test "event Fashion-MNIST frames come from IDX files through the DVS emulator" {
            let folder = Path.Combine (Path.GetTempPath (), $"snn-fashion-{Guid.NewGuid ():N}")
            Directory.CreateDirectory folder |> ignore
            try
                let images = Array.init (2 * 28 * 28) (fun i -> if (i % 28) > 8 && (i % 28) < 20 then 220uy else 0uy)
                File.WriteAllBytes (Path.Combine (folder, "train-images-idx3-ubyte"), DataFormatWriters.idxBytes [ 2; 28; 28 ] images)
                File.WriteAllBytes (Path.Combine (folder, "train-labels-idx1-ubyte"), DataFormatWriters.idxBytes [ 2 ] [| 8uy; 1uy |])
                let frames, y = Experiments.AuxiliaryExperiment.fashionFrames folder true 3 2
                Expect.equal frames.shape [| 2L; 3L; 2L * 34L * 34L |] "[N; T; 2·34·34]"
                Expect.equal (Tensors.toInt64Array y) [| 8L; 1L |] "labels"
                Expect.isGreaterThan (frames.sum().ToDouble ()) 0.0 "the saccades produce events"
                rejects "count" "must lie in [1, 2]" (fun () -> Experiments.AuxiliaryExperiment.fashionFrames folder true 3 5 |> ignore)
            finally
                Directory.Delete (folder, true)
        }
    ]

let tests = testList "AlSnn" [ labelMapTests; networkTests; lossTests; trainingTests; experimentTests ]
