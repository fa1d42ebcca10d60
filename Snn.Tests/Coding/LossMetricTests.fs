module Snn.Tests.LossMetricTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Tests.Assertions

let tests =
    testList "Loss and metrics" [
        test "spike counts sum over time" {
            let spikes = shaped [| 2L; 2L; 2L |] [| 1.; 0.; 1.; 1.; 0.; 0.; 1.; 1. |]
            // t = 0: [[1, 0], [1, 1]]; t = 1: [[0, 0], [1, 1]].
            allClose 0.0 [| 1.; 0.; 2.; 2. |] (values (Loss.spikeCounts spikes)) "counts [B; C]"
        }
        test "cross-entropy on counts equals the hand-computed value" {
            // counts: sample 0 = [2, 0], sample 1 = [1, 1]; labels [0, 1].
            let spikes = shaped [| 2L; 2L; 2L |] [| 1.; 0.; 1.; 1.; 1.; 0.; 0.; 0. |]
            let labels = torch.tensor [| 0L; 1L |]
            let expected = (-Math.Log (Math.Exp 2.0 / (Math.Exp 2.0 + 1.0)) - Math.Log 0.5) / 2.0
            allClose 1e-12 [| expected |] (values (Loss.crossEntropyOnCounts spikes labels)) "CE"
        }
        test "cross-entropy rejects labels of the wrong length" {
            let spikes = torch.zeros ([| 3L; 2L; 4L |])
            Expect.throwsT<ArgumentException> (fun () -> Loss.crossEntropyOnCounts spikes (torch.tensor [| 0L |]) |> ignore) "labels"
        }
        test "accuracy counts argmax hits" {
            let scores = shaped [| 4L; 2L |] [| 0.1; 0.9; 0.8; 0.2; 0.3; 0.7; 0.6; 0.4 |]
            let labels = torch.tensor [| 1L; 0L; 0L; 0L |]
            Expect.equal (Metrics.correct scores labels) 3 "hits"
            Expect.floatClose Accuracy.veryHigh (Metrics.accuracy scores labels) 0.75 "accuracy"
        }
    ]
