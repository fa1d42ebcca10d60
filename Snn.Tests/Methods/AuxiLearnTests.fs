module Snn.Tests.AuxiLearnTests

open Expecto
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules

let tests =
    testList "AuxiLearn" [
        test "an AL-SNN trains with a linear combiner learned by hypergradient on a held-out split" {
            torch.manual_seed 5L |> ignore
            let train, test = MovingPatterns.trainTest MovingPatterns.Settings.Default 4 0 48 16
            let flat (s: MovingPatterns.FrameSet) = s.Frames.flatten (2L), s.Labels
            let tasks = [| AuxiliaryTasks.MovingPatterns.a2; AuxiliaryTasks.MovingPatterns.a4 4 |]
            use model = AlSnn.Mlp (int (fst (flat train)).shape.[2], [| 24 |], 10, tasks |> Array.map (fun t -> t.LabelCount), Neurons.PlifParameters.Default, 6.0)
            use h = new LinearLossCombiner (2, 0.25)
            let trainer = { AuxiliaryLearning.trainerDefaults with Epochs = 2; BatchSize = 16; LearningRate = 3e-3 }
            let training = { AuxiliaryLearning.Settings.Default with Tasks = tasks }
            let settings = { AuxiLearn.Settings.Default with Bilevel = { AuxiLearn.Settings.Default.Bilevel with Interval = 1 }; AuxiliaryFraction = 0.25 }
            let epochs = ResizeArray ()
            let history = AuxiLearn.fit model h trainer training settings (flat train) (flat test) epochs.Add
            // 48 samples, 12 held out: 36 train in batches of 16 = 3 steps per epoch, each followed by a hyper step.
            Expect.equal history.HyperSteps.Length 6 "one hyper step per weight step"
            let norms = history.HyperSteps |> Array.map (fun s -> s.HypergradientNorm)
            Expect.isTrue (norms |> Array.forall (fun n -> n > 0.0 && System.Double.IsFinite n)) $"finite non-zero hypergradients: %A{norms}"
            Expect.equal epochs.Count 2 "onEpoch per epoch"
            let gamma = h.Weights.data<float32>().ToArray ()
            Expect.isTrue (gamma |> Array.exists (fun g -> abs (float g - 0.25) > 1e-4)) $"the combiner's weights moved: %A{gamma}"
            Expect.isTrue (gamma |> Array.forall (fun g -> g > 0.0f)) "weights stay positive"
            let last = Array.last history.Entries
            Expect.isTrue (last.TestAccuracy >= 0.0 && last.TestAccuracy <= 1.0) "test accuracy is a fraction"
            Expect.equal (AuxiliaryLearning.auxiliaryLosses last).Length 2 "one mean loss per auxiliary task"
        }
        test "fit refuses a combiner of the wrong width and an empty split" {
            let tasks = [| AuxiliaryTasks.MovingPatterns.a2 |]
            use model = AlSnn.Mlp (8, [| 4 |], 10, [| tasks.[0].LabelCount |], Neurons.PlifParameters.Default, 1.0)
            use h = new LinearLossCombiner (2, 1.0)
            let training = { AuxiliaryLearning.Settings.Default with Tasks = tasks }
            let data = torch.zeros (10L, 2L, 8L), torch.zeros (10L, dtype = torch.int64)
            let e = Expect.throwsC (fun () -> AuxiLearn.fit model h AuxiliaryLearning.trainerDefaults training AuxiLearn.Settings.Default data data ignore |> ignore) id
            Expect.stringContains e.Message "combiner" "names the parameter"
            use h1 = new LinearLossCombiner (1, 1.0)
            let e = Expect.throwsC (fun () -> AuxiLearn.fit model h1 AuxiliaryLearning.trainerDefaults training { AuxiLearn.Settings.Default with AuxiliaryFraction = 1.0 } data data ignore |> ignore) id
            Expect.stringContains e.Message "AuxiliaryFraction" "names the field"
        }
    ]
