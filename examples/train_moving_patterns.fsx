// Trains the fully connected LIF network on the built-in moving-patterns event dataset from a script.
// Run after building: dotnet fsi examples/train_moving_patterns.fsx
#load "shared/references.fsx"

open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons

let frames = 20
let train, test = MovingPatterns.trainTest MovingPatterns.Settings.Default frames 42 1000 500
torch.manual_seed 42L |> ignore
// 200 ms samples in 20 frames: one step is 10 ms.
let neuron = { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }
let model = new DenseSnn(int train.Frames.shape.[2], 128, MovingPatterns.classNames.Length, neuron, 4.0)
let settings = { Training.TrainerSettings.Default with Epochs = 4; BatchSize = 32; LearningRate = 5e-3; Seed = 42 }
let history =
    Trainer.train model settings (train.Frames, train.Labels) (test.Frames, test.Labels) (fun r ->
        printfn "epoch %d: loss %.4f, test accuracy %.1f%%" r.Epoch r.TrainLoss (100.0 * r.TestAccuracy)) System.Threading.CancellationToken.None
let accuracy = (Array.last history.Entries).TestAccuracy
if accuracy < 0.8 then failwithf "expected at least 80%% test accuracy after 4 epochs, got %.1f%%" (100.0 * accuracy)
