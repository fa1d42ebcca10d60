// The README's network (DenseSnn 512-128-10, LIF tau 20 ms, dt 10 ms) on MovingPatterns with and without the
// trainer's calibrated initialisation: firing rates at initialisation, the trainer's log, and loss / test accuracy per
// epoch; then ms per training step of a composed chain (SpikingSequential of Linear + LIF layers) with the default
// (fused) and the reference kernel next to DenseSnn. A measurement, not a test:
//   dotnet fsi build.fsx build && dotnet fsi bench/readme_network.fsx [epochs]
#load "../examples/shared/references.fsx"

open System
open System.Diagnostics
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors

let epochs = match fsi.CommandLineArgs with [| _; e |] -> int e | _ -> 4
let neuron = { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }
let train, test = Data.MovingPatterns.trainTest Data.MovingPatterns.Settings.Default 20 1 600 200
let probe = Data.Dataset.batchOf train.Frames [| 0L .. 255L |]

for gain, calibration in [ 4.0, NoCalibration; 4.0, Training.TrainerSettings.Default.Calibration; 1.0, NoCalibration; 1.0, Training.TrainerSettings.Default.Calibration; 4.0, SilentLayers 0.05 ] do
    torch.manual_seed 1L |> ignore
    use net = new DenseSnn(512, 128, 10, neuron, gain, Fused)
    let rates = (Calibration.firingRates net probe).Value |> Array.map (fun (n, r) -> $"{n} {r:F4}") |> String.concat ", "
    printfn "\n== weightGain %g, calibration %A: rates at initialisation (256 training samples): %s" gain calibration rates
    let settings = { Training.TrainerSettings.Default with Epochs = epochs; BatchSize = 64; LearningRate = 5e-3; Seed = 1; Calibration = calibration; Log = printfn "   log: %s" }
    let history =
        Trainer.train net settings (train.Frames, train.Labels) (test.Frames, test.Labels)
            (fun e -> printfn "   epoch %d: loss %.4f, train %.1f %%, test %.1f %%" e.Epoch e.TrainLoss (100.0 * e.TrainAccuracy) (100.0 * e.TestAccuracy))
            Threading.CancellationToken.None
    let after = (Calibration.firingRates net probe).Value |> Array.map (fun (n, r) -> $"{n} {r:F4}") |> String.concat ", "
    printfn "   after training: %s; final test accuracy %.1f %%" after (100.0 * (Array.last history.Entries).TestAccuracy)

// ms per training step (forward, backward, Adam) on batches of 64, 20 steps after 3 warm-up steps.
let msPerStep (model: torch.nn.Module<Tensor, Tensor>) =
    use optimizer = torch.optim.Adam (model.parameters (), 1e-3)
    let x = Data.Dataset.batchOf train.Frames [| 0L .. 63L |]
    let y = train.Labels.[torch.TensorIndex.Slice (0L, 64L)]
    let step () =
        use _ = torch.NewDisposeScope ()
        optimizer.zero_grad ()
        let loss = Loss.crossEntropyOnCounts (model.forward x) y
        loss.backward ()
        optimizer.step () |> ignore
    for _ in 1 .. 3 do step ()
    let clock = Stopwatch.StartNew ()
    for _ in 1 .. 20 do step ()
    clock.Elapsed.TotalMilliseconds / 20.0

let chain (kernel: Kernel option) =
    torch.manual_seed 1L |> ignore
    let lif name = let l = new ModulatedLifLayer(name, neuron) in kernel |> Option.iter (fun k -> l.Kernel <- k); l
    new SpikingSequential("chain", [| TimeLayers.linear "fc1" 512 128; lif "lif1"; TimeLayers.linear "fc2" 128 10; lif "lif2" |])

torch.manual_seed 1L |> ignore
printfn "\nms per training step, batch 64, T = 20:"
printfn "   DenseSnn (fused)                 %.1f" (msPerStep (new DenseSnn(512, 128, 10, neuron, 4.0, Fused)))
printfn "   composed chain, default kernel   %.1f" (msPerStep (chain None))
printfn "   composed chain, Reference kernel %.1f" (msPerStep (chain (Some Reference)))
