/// Inference on sample-first data [N; T; ...]: classes, spike counts, probabilities, accuracy and confusion matrix.
module Snn.Tests.InferenceTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Modules
open Snn.Neurons
open Snn.Tensors
open Snn.Tests.Assertions

/// A "network" whose output spikes are its input [T; B; C]: the expected counts are known by construction.
type private Identity() =
    inherit torch.nn.Module<Tensor, Tensor>("Identity")
    override _.forward (x: Tensor) = x.clone ()

/// Samples [N; T; 3] whose sample n fires output (n % 3) at `2 + n % 2` of its 4 steps (and output 0 once).
let private samples () =
    let n, t, c = 6, 4, 3
    let data = Array.zeroCreate<float32> (n * t * c)
    for s in 0 .. n - 1 do
        for step in 0 .. 1 + s % 2 do data.[(s * t + step) * c + s % c] <- 1.0f
        if s % c <> 0 then data.[(s * t + 3) * c] <- 1.0f
    shaped32 [| int64 n; int64 t; int64 c |] data

let tests =
    testList "Inference" [
        test "predict reads sample-first data: the class with most spikes, counts per sample and softmax probabilities" {
            use model = new Identity()
            let p = Inference.predict model 4 (samples ())
            Expect.equal p.Classes [| 0L; 1L; 2L; 0L; 1L; 2L |] "class n % 3 (batches of 4 and 2)"
            Expect.equal p.SpikeCounts.shape [| 6L; 3L |] "counts [N; C]"
            Expect.equal (values p.SpikeCounts.[1L]) [| 1.0; 3.0; 0.0 |] "sample 1: three spikes of output 1, one of output 0"
            allClose 1e-6 (Array.create 6 1.0) (values (p.Probabilities.sum (1L))) "probabilities sum to 1"
            allClose 1e-6 (values (torch.nn.functional.softmax (p.SpikeCounts, 1L))) (values p.Probabilities) "softmax of the counts"
        }
        test "evaluate gives accuracy, confusion matrix and report; the trainer's evaluate is the same accuracy" {
            use model = new Identity()
            let labels = torch.tensor [| 0L; 1L; 2L; 0L; 2L; 2L |]
            let e = Inference.evaluate model 256 (samples ()) labels
            Expect.floatClose Accuracy.veryHigh e.Accuracy (5.0 / 6.0) "sample 4 (class 1 predicted, label 2) is wrong"
            Expect.equal e.Confusion.[2, 1] 1 "true 2 predicted 1"
            Expect.equal e.Confusion.[2, 2] 2 "true 2 predicted 2"
            Expect.floatClose Accuracy.veryHigh e.Report.Recall.[2] (2.0 / 3.0) "recall of class 2"
            Expect.floatClose Accuracy.veryHigh (Training.evaluate model 2 (samples ()) labels) e.Accuracy "one implementation"
        }
        test "bad inputs are refused naming the parameter" {
            use model = new Identity()
            let labelsError = thrown<ArgumentException> (fun () -> Inference.evaluate model 8 (samples ()) (torch.tensor [| 0L; 1L |]) |> ignore) "two labels for six samples"
            Expect.equal labelsError.ParamName "labels" "names labels"
            let range = thrown<ArgumentException> (fun () -> Inference.evaluate model 8 (samples ()) (torch.tensor [| 0L; 1L; 2L; 0L; 1L; 7L |]) |> ignore) "class 7 of 3"
            Expect.stringContains range.Message "7" "names the class"
            let shape = thrown<ArgumentException> (fun () -> Inference.predict model 8 (torch.zeros (4L, 3L)) |> ignore) "not [N; T; ...]"
            Expect.equal shape.ParamName "samples" "names samples"
        }
        test "a DenseSnn predicts from [N; T; F] without the caller transposing" {
            torch.manual_seed 3L |> ignore
            use net = new DenseSnn(8, 6, 3, { LifParameters.Default with TauMem = 5.0 }, 8.0, Fused)
            let x = torch.rand ([| 5L; 10L; 8L |])
            let p = Inference.predict net 2 x
            use direct = (net.call (x.transpose (0L, 1L))).sum (0L)
            Expect.equal (values p.SpikeCounts) (values direct) "the same counts as a time-first forward"
        }
        test "Dataset.ofArrays builds [N; T; ...] and labels, and names the argument that disagrees" {
            let x, y = Data.Dataset.ofArrays (Array.init 24 float32) [| 2; 3; 4 |] [| 1L; 0L |]
            Expect.equal x.shape [| 2L; 3L; 4L |] "shape"
            Expect.equal (values x.[1L, 0L]) [| 12.0; 13.0; 14.0; 15.0 |] "row-major"
            Expect.equal (toInt64Array y) [| 1L; 0L |] "labels"
            let paramOf f = (thrown<ArgumentException> f "refused").ParamName
            Expect.equal (paramOf (fun () -> Data.Dataset.ofArrays (Array.zeroCreate 23) [| 2; 3; 4 |] [| 0L; 0L |] |> ignore)) "values" "23 values for 24"
            Expect.equal (paramOf (fun () -> Data.Dataset.ofArrays (Array.zeroCreate 24) [| 2; 12 |] [| 0L; 0L |] |> ignore)) "shape" "two sizes"
            Expect.equal (paramOf (fun () -> Data.Dataset.ofArrays (Array.zeroCreate 24) [| 2; 3; 4 |] [| 0L |] |> ignore)) "labels" "one label for two samples"
            Expect.equal (paramOf (fun () -> Data.Dataset.ofArrays (Array.zeroCreate 24) [| 2; 3; 4 |] [| 0L; -1L |] |> ignore)) "labels" "negative label"
        }
    ]
