module Snn.Tests.TrainingTests

open Expecto
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons

let tests =
    testList "Training" [
        test "a short BPTT run on moving patterns learns far above chance" {
            let train, test = MovingPatterns.trainTest MovingPatterns.Settings.Default 20 11 600 300
            torch.manual_seed 11L |> ignore
            use model = new DenseSnn(512, 128, 10, { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }, 4.0)
            let before = Training.evaluate model 100 test.Frames test.Labels
            let settings = { Training.TrainerSettings.Default with Epochs = 8; BatchSize = 32; LearningRate = 5e-3; Seed = 11 }
            let reports = (Trainer.train model settings (train.Frames, train.Labels) (test.Frames, test.Labels) ignore System.Threading.CancellationToken.None).Entries
            let last = Array.last reports
            Expect.isLessThan last.TrainLoss reports.[0].TrainLoss "the loss falls"
            Expect.isGreaterThan last.TestAccuracy 0.7 $"test accuracy {last.TestAccuracy} (chance 0.1, before training {before})"
        }
        test "live tensors do not grow with the number of training steps" {
            let train, test = MovingPatterns.trainTest MovingPatterns.Settings.Default 10 2 64 32
            let live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount
            // Tensors left alive by a whole fit call (model, optimizer state) must not depend on how many steps ran.
            let leftAlive epochs =
                torch.manual_seed 2L |> ignore
                let before = live ()
                use model = new DenseSnn(512, 32, 10, LifParameters.Default)
                let settings = { Training.TrainerSettings.Default with Epochs = epochs; BatchSize = 16 }
                Trainer.train model settings (train.Frames, train.Labels) (test.Frames, test.Labels) ignore System.Threading.CancellationToken.None |> ignore
                live () - before
            let short = leftAlive 1
            let long = leftAlive 6
            Expect.isLessThanOrEqual long short $"after 4 steps {short} tensors stayed alive, after 24 steps {long}"
        }
    ]
