/// Metrics against hand-computed confusion matrices, a known ROC curve and a hand-counted MLP.
module Snn.Tests.MetricTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Tensors
open Snn.Tests.Assertions

let tests =
    testList "Metrics" [
        test "confusion matrix and per-class report" {
            let labels = [| 0L; 0L; 0L; 1L; 1L; 2L; 2L; 2L |]
            let predicted = [| 0L; 0L; 1L; 1L; 2L; 2L; 2L; 0L |]
            let m = Metrics.confusionMatrix 3 predicted labels
            Expect.equal m (array2D [ [ 2; 1; 0 ]; [ 0; 1; 1 ]; [ 1; 0; 2 ] ]) "rows = true class"
            let r = Metrics.classificationReport m
            allClose 1e-12 [| 2.0 / 3.0; 0.5; 2.0 / 3.0 |] r.Precision "precision"
            allClose 1e-12 [| 2.0 / 3.0; 0.5; 2.0 / 3.0 |] r.Recall "recall"
            allClose 1e-12 [| 2.0 / 3.0; 0.5; 2.0 / 3.0 |] r.F1 "F1"
            Expect.equal r.Support [| 3; 2; 3 |] "support"
            Expect.floatClose Accuracy.veryHigh r.MacroF1 (11.0 / 18.0) "macro F1"
            Expect.floatClose Accuracy.veryHigh r.Accuracy 0.625 "accuracy"
            // A class never predicted has precision 0 (not NaN), and F1 0.
            let r2 = Metrics.classificationReport (array2D [ [ 1; 1 ]; [ 0; 0 ] ])
            allClose 1e-12 [| 1.0; 0.0 |] r2.Precision "precision of a never-predicted class"
            allClose 1e-12 [| 2.0 / 3.0; 0.0 |] r2.F1 "F1"
            Expect.throwsT<ArgumentException> (fun () -> Metrics.confusionMatrix 2 [| 2L |] [| 0L |] |> ignore) "class out of range"
        }
        test "ROC AUC of a known curve, ties and one-vs-rest" {
            // Positives 0.35, 0.8; negatives 0.1, 0.4: 3 of the 4 pairs are ordered correctly.
            Expect.floatClose Accuracy.veryHigh (Metrics.rocAuc [| 0.1; 0.4; 0.35; 0.8 |] [| false; false; true; true |]) 0.75 "AUC"
            Expect.floatClose Accuracy.veryHigh (Metrics.rocAuc [| 0.5; 0.5 |] [| true; false |]) 0.5 "a tie counts one half"
            Expect.floatClose Accuracy.veryHigh (Metrics.rocAuc [| 1.; 2.; 3. |] [| false; true; true |]) 1.0 "perfect"
            let scores = shaped [| 4L; 2L |] [| 0.9; 0.1;  0.6; 0.4;  0.65; 0.35;  0.2; 0.8 |]
            let auc = Metrics.oneVsRestAuc scores (torch.tensor [| 0L; 1L; 0L; 1L |])
            // class 0 positives 0.9, 0.65 vs negatives 0.6, 0.2: 4/4; class 1 positives 0.4, 0.8 vs 0.1, 0.35: 4/4.
            allClose 1e-12 [| 1.0; 1.0 |] auc "one-vs-rest"
            Expect.isTrue (Double.IsNaN (Metrics.oneVsRestAuc scores (torch.tensor [| 0L; 0L; 0L; 0L |])).[1]) "undefined class → NaN"
            Expect.throwsT<ArgumentException> (fun () -> Metrics.rocAuc [| 1.0 |] [| true |] |> ignore) "one class only"
        }
        test "first-spike latency and first-spike vs firing-rate decoding" {
            // Sample 0: neuron 1 fires first (t = 0) once; neuron 0 fires at t = 1, 2, 3 (most spikes).
            // Sample 1: both first fire at t = 1; neuron 0 has more spikes and wins the tie.
            let z =
                shaped [| 4L; 2L; 2L |]
                    [| 0.; 1.;  0.; 0.
                       1.; 0.;  1.; 1.
                       1.; 0.;  1.; 0.
                       1.; 0.;  0.; 0. |]
            allClose 0.0 [| 1.; 0.; 1.; 1. |] (values (Metrics.firstSpikeLatency z)) "latency"
            Expect.equal (toInt64Array (Metrics.firstSpikePredictions z)) [| 1L; 0L |] "first-spike decoding"
            let labels = torch.tensor [| 1L; 0L |]
            Expect.floatClose Accuracy.veryHigh (Metrics.firstSpikeAccuracy z labels) 1.0 "first-spike accuracy"
            Expect.floatClose Accuracy.veryHigh (Metrics.firingRateAccuracy z labels) 0.5 "rate accuracy"
            Expect.floatClose Accuracy.veryHigh (Metrics.spikesPerSample z) 3.5 "spikes per sample: 7 spikes, 2 samples"
        }
        test "SynOps and MACs of a spiking MLP next to its ANN twin (table 14 layout)" {
            // Input 4 → 3 → 2, T = 2, B = 2. Input spikes: 6 in total (3 per sample); hidden: 4 (2 per sample).
            let input = shaped [| 2L; 2L; 4L |] [| 1.; 0.; 1.; 0.;  0.; 0.; 0.; 1.;  0.; 1.; 0.; 0.;  1.; 1.; 0.; 0. |]
            let hidden = shaped [| 2L; 2L; 3L |] [| 1.; 0.; 0.;  0.; 1.; 0.;  1.; 0.; 0.;  0.; 0.; 1. |]
            let output = shaped [| 2L; 2L; 2L |] [| 0.; 1.;  0.; 0.;  0.; 1.;  0.; 0. |]
            let rows = Metrics.mlpActivity [| input; hidden; output |]
            Expect.equal rows.Length 2 "one row per layer"
            Expect.equal (rows.[0].Events, rows.[0].SynOps, rows.[0].Activations, rows.[0].Macs) (2.0, 9.0, 3.0, 12.0) "hidden layer"
            Expect.equal (rows.[1].Events, rows.[1].SynOps, rows.[1].Activations, rows.[1].Macs) (1.0, 4.0, 2.0, 6.0) "output layer"
            Expect.equal (Metrics.convMacs 2 4 3 5 5) (2.0 * 9.0 * 4.0 * 25.0) "conv MACs"
            let convSpikes = torch.ones ([| 2L; 1L; 2L; 3L; 3L |])
            Expect.equal (Metrics.convSynOps convSpikes 4 3 1) (36.0 * 36.0) "conv SynOps: 36 spikes × 4·9 synapses"
        }
    ]
