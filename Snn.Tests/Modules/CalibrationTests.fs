/// The calibrated initialisation (LSUV-style) of chain networks and the trainer's warnings about silent layers and a
/// loss stuck at ln C.
module Snn.Tests.CalibrationTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons
open Snn.Tensors
open Snn.Tests.Assertions

let private data = lazy (MovingPatterns.trainTest MovingPatterns.Settings.Default 20 1 128 32)

/// The README's network at the default initialisation scale: silent on MovingPatterns.
let private silentNetwork () =
    torch.manual_seed 1L |> ignore
    new DenseSnn(512, 32, 10, { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }, 1.0, Fused)

let private probe () = let train, _ = data.Force () in Dataset.batchOf train.Frames [| 0L .. 63L |]

let tests =
    testList "Calibration" [
        test "the bisection finds the scale at which a monotone rate reaches the target" {
            let scale = Calibration.scaleForRate (fun s -> min 1.0 (s / 1000.0)) 0.05
            Expect.floatClose Accuracy.medium scale 50.0 "rate s/1000 reaches 0.05 at s = 50"
        }
        test "a silent chain is scaled until every layer fires near the target rate; a firing one is left alone" {
            use net = silentNetwork ()
            let x = probe ()
            let before = (Calibration.firingRates net x).Value
            Expect.equal (before |> Array.map snd) [| 0.0; 0.0 |] "the default scale fires nothing on sparse events"
            match Calibration.calibrate (SilentLayers 0.05) net x with
            | Error e -> failtest e
            | Ok results ->
                Expect.equal results.Length 2 "fc1 → lif1 and fc2 → lif2"
                Expect.isTrue (results |> Array.forall (fun r -> r.Scale > 1.0)) "both scaled up"
                for name, rate in (Calibration.firingRates net x).Value do
                    Expect.isTrue (rate > 0.03 && rate < 0.08) $"{name} fires at {rate}, near 0.05"
            let weights = net.parameters () |> Seq.map values |> Array.concat
            match Calibration.calibrate (SilentLayers 0.05) net x with
            | Ok again -> Expect.isTrue (again |> Array.forall (fun r -> r.Scale = 1.0)) "firing layers are left alone"
            | Error e -> failtest e
            Expect.equal (net.parameters () |> Seq.map values |> Array.concat) weights "weights unchanged the second time"
        }
        test "a model that is not a layer chain is not calibrated" {
            use model = new VggSnn(2, 8, 8, 1, 4, 3, 2, PlifParameters.Default)
            match Calibration.calibrate (EveryLayer 0.05) model (torch.zeros ([| 4L; 2L; 2L; 8L; 8L |])) with
            | Error reason -> Expect.stringContains reason "ILayerChain" "says why"
            | Ok _ -> failtest "a VggSnn is not a chain"
        }
        test "training a silent network without calibration warns about silent layers and the loss at ln 10" {
            use net = silentNetwork ()
            let train, test = data.Force ()
            let lines = ResizeArray<string> ()
            let settings = { Training.TrainerSettings.Default with Epochs = 1; BatchSize = 64; Calibration = NoCalibration; Log = lines.Add }
            Trainer.train net settings (train.Frames, train.Labels) (test.Frames, test.Labels) ignore Threading.CancellationToken.None |> ignore
            Expect.exists lines (fun l -> l.Contains "lif1" && l.Contains "fired no spike") $"a warning about lif1: %A{lines}"
            Expect.exists lines (fun l -> l.Contains "ln 10") $"a warning about the loss: %A{lines}"
            Expect.isTrue (lines |> Seq.forall (fun l -> l.StartsWith "warning: epoch 1:")) "one-line warnings naming the epoch"
        }
        test "by default the trainer calibrates the silent network, says so, and no layer stays silent" {
            use net = silentNetwork ()
            let train, test = data.Force ()
            let lines = ResizeArray<string> ()
            let settings = { Training.TrainerSettings.Default with Epochs = 1; BatchSize = 64; LearningRate = 5e-3; Log = lines.Add }
            let history = Trainer.train net settings (train.Frames, train.Labels) (test.Frames, test.Labels) ignore Threading.CancellationToken.None
            Expect.exists lines (fun l -> l.StartsWith "calibrated initialisation: fc1") $"the log names the scaled layer: %A{lines}"
            Expect.isFalse (lines |> Seq.exists (fun l -> l.StartsWith "warning")) $"no warning: %A{lines}"
            Expect.isGreaterThan (abs (history.Entries.[0].TrainLoss - log 10.0)) 0.01 "the loss moved away from ln 10"
        }
    ]
