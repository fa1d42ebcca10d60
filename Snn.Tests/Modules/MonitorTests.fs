/// Monitors record spikes and membranes without changing what the network computes.
module Snn.Tests.MonitorTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors
open Snn.Tests.Assertions

let tests =
    testList "Monitor" [
        test "outputs and gradients are identical with and without a monitor" {
            torch.manual_seed 8L |> ignore
            use model = new DenseSnn(6, 5, 3, LifParameters.Default, 3.0)
            let x = torch.rand ([| 8L; 2L; 6L |])
            let run () =
                model.zero_grad ()
                let y = model.forward x
                Diff.backward (y.sum ())
                values y, model.parameters () |> Seq.map (fun p -> values p.grad) |> Array.concat
            let plain = run ()
            let layers = model.named_modules () |> Seq.filter (fun struct (_, m) -> m :? LifLayer) |> Seq.map (fun struct (n, m) -> n, m :?> torch.nn.Module<Tensor, Tensor>) |> Seq.toArray
            Expect.equal layers.Length 2 "two LIF layers"
            use monitor = new SpikeMonitor(layers, true)
            let monitored = run ()
            Expect.equal (fst monitored) (fst plain) "outputs"
            Expect.equal (snd monitored) (snd plain) "gradients"
            let y = model.forward x
            let last = monitor.Spikes "lif2"
            Expect.equal last.Length 2 "one recording per forward call"
            Expect.equal (values last.[1]) (values y) "the recorded spikes are the output"
            let rate = monitor.FiringRate "lif2"
            Expect.floatClose Accuracy.veryHigh rate ((Array.average (values y) + Array.average (fst plain)) / 2.0) "rate over both calls"
        }
        test "the membrane recording follows the LIF solution and detaching stops recording" {
            let lif = new LifLayer("lif", LifParameters.Default)
            use monitor = new SpikeMonitor([| "lif", lif :> torch.nn.Module<Tensor, Tensor> |], true)
            let input = torch.ones ([| 12L; 1L; 1L |], dtype = torch.float64) * 1.5
            let spikes = lif.call input
            let v = values (monitor.Membranes "lif").[0]
            // From rest, v_t = 1.5 (1 - e^{-0.1 (t+1)}) until the first crossing at step 10, then a hard reset to 0.
            for t in 0 .. 9 do Expect.floatClose Accuracy.high v.[t] (1.5 * (1.0 - Math.Exp (-0.1 * float (t + 1)))) $"v at step {t}"
            Expect.equal (values spikes).[10] 1.0 "spike at step 10"
            Expect.equal v.[10] 0.0 "reset after the spike"
            monitor.Dispose ()
            lif.call input |> ignore
            Expect.throwsT<ArgumentException> (fun () -> monitor.FiringRate "lif" |> ignore) "nothing recorded after Dispose"
        }
    ]
