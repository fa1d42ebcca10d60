module Snn.Tests.ThresholdLearningTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors

let private config kernel =
    { TmSnnConfig.Thesis 512 MultiTask.movingPatternTasks.[0..1] with
        FeatureSizes = [| 16; 16 |]; LabelHidden = 8; TaskHidden = 0; Kernel = kernel
        Neuron = { CuLifParameters.Default with Dt = 33.0; VThreshold = 1.25 } }

let tests =
    testList "ThresholdLearning" [
        test "a heavy SynOps budget raises the learned thresholds and lowers the network's activity" {
            torch.manual_seed 6L |> ignore
            let train = Data.MovingPatterns.frameSet Data.MovingPatterns.Settings.Default 6 0 0 40
            let frames = train.Frames.gt(torch.tensor 0.0f).``to`` torch.float32
            use model = new TmSnn (config Reference)
            let trainer = { TmSnnTraining.trainerDefaults with Epochs = 2; BatchSize = 8 }
            let settings =
                { ThresholdLearning.Settings.Default with
                    SynOpsWeight = 50.0; Bilevel = { ThresholdLearning.Settings.Default.Bilevel with Interval = 1; HyperLearningRate = 0.2 } }
            let activity () =
                use _ = torch.no_grad ()
                let x = Data.Dataset.batchOf frames [| 0L .. 15L |]
                [| for k in 0 .. 1 -> (ThresholdLearning.synOpsFraction model x (model.Run (x, k, false))).ToDouble () |]
            let before = toFloat64Array model.Thresholds
            let outcome = ThresholdLearning.fit model trainer TmSnnTraining.Settings.Default settings frames train.Labels ignore
            // 32 training samples in batches of 8: 4 steps per epoch, a hyper step after each.
            Expect.equal outcome.Thresholds.Length 8 "one threshold record per hyper step"
            let after = List.last outcome.Thresholds
            Expect.isGreaterThan (Array.sum after) (Array.sum before + 0.1) $"thresholds rise under the budget: %A{before} -> %A{after}"
            Expect.isTrue (outcome.Thresholds |> List.forall (Array.forall (fun t -> t >= settings.MinimumThreshold))) "kept above the minimum"
            Expect.isTrue (outcome.History.HyperSteps |> Array.forall (fun s -> Double.IsFinite s.OuterLoss)) "finite validation objective"
            Expect.equal (toFloat64Array model.Thresholds) after "the model runs with the learned thresholds"
            Expect.isTrue (activity () |> Array.forall (fun s -> s >= 0.0)) "SynOps fraction is non-negative"
        }
        test "the fused kernel and current modulation are refused with the reason" {
            use fused = new TmSnn (config Fused)
            let data = torch.zeros (10L, 6L, 512L), torch.zeros (10L, dtype = torch.int64)
            let e = Expect.throwsC (fun () -> ThresholdLearning.fit fused TmSnnTraining.trainerDefaults TmSnnTraining.Settings.Default ThresholdLearning.Settings.Default (fst data) (snd data) ignore |> ignore) id
            Expect.stringContains e.Message "double backward" "says why"
            use current = new TmSnn ({ config Reference with Modulation = ByCurrent })
            let e = Expect.throwsC (fun () -> ThresholdLearning.fit current TmSnnTraining.trainerDefaults TmSnnTraining.Settings.Default ThresholdLearning.Settings.Default (fst data) (snd data) ignore |> ignore) id
            Expect.stringContains e.Message "current" "says why"
        }
    ]
