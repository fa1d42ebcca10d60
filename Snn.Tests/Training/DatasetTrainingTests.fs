/// Training from the Dataset API (a loader per sample, prefetched batches) and the frame cache of `snn data frames`.
module Snn.Tests.DatasetTrainingTests

open System
open System.IO
open Expecto
open TorchSharp
open Snn
open Snn.Cli
open Snn.Data
open Snn.Modules
open Snn.Neurons
open Snn.Tests.Assertions
open Snn.Tests.DataFormatWriters
open Snn.Tests.DataReaderTests

let private data = lazy (MovingPatterns.trainTest MovingPatterns.Settings.Default 12 5 48 24)

let private model () =
    torch.manual_seed 5L |> ignore
    new DenseSnn(512, 16, 10, { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }, 8.0)

let tests =
    testList "DatasetTraining" [
        test "a prefetched Dataset source trains exactly like the same samples held in tensors" {
            let train, test = data.Force ()
            let settings = { Training.TrainerSettings.Default with Epochs = 2; BatchSize = 16; LearningRate = 3e-3 }
            use a = model ()
            let fromTensors = Trainer.train a settings (train.Frames, train.Labels) (test.Frames, test.Labels) ignore Threading.CancellationToken.None
            use b = model ()
            let loads = ref 0
            let counted (split: LabelledSplit) =
                { split with Load = fun i -> Threading.Interlocked.Increment loads |> ignore; split.Load i }
            let batches = ResizeArray ()
            let fromDataset =
                DatasetTraining.train b settings 2 (counted (Dataset.ofTensors train.Frames train.Labels))
                    (Dataset.ofTensors test.Frames test.Labels) batches.Add ignore Threading.CancellationToken.None
            // Once per epoch, plus the first 256 (here all 48) for the calibration and the first 64 (48) watched.
            Expect.equal loads.Value (2 * 48 + 48 + 48) "every training sample loaded once per epoch"
            Expect.equal (batches |> Seq.map (fun (e, k, n, _) -> e, k, n) |> Seq.last) (2, 3, 3) "progress per batch"
            let pick (h: Training.History) = h.Entries |> Array.map (fun e -> e.TrainLoss, e.TrainAccuracy, e.TestAccuracy)
            let x, y = pick fromTensors, pick fromDataset
            for (l1, a1, t1), (l2, a2, t2) in Array.zip x y do
                Expect.floatClose Accuracy.medium l2 l1 "same loss"
                Expect.equal (a2, t2) (a1, t1) "same accuracies"
            let (loss1, _, _), (loss2, _, _) = x.[0], x.[1]
            Expect.notEqual loss1 loss2 "the run trains"
            allClose 1e-5 (a.parameters () |> Seq.map values |> Array.concat) (b.parameters () |> Seq.map values |> Array.concat) "same weights"
        }
        test "snn data frames --cache integrates once and then reads the cached frames" {
            let root = tempFolder "cli-cache"
            try
                let path = Path.Combine (root, "c.aedat")
                File.WriteAllBytes (path, aedat2 [ for k in 0 .. 99 -> { X = k; Y = 127 - k; T = int64 k; On = k % 2 = 0 } ])
                let cache = Path.Combine (root, "cache")
                let frames (out: string) (count: string) =
                    use writer = new StringWriter ()
                    let code = DataCommand.execute [| "frames"; "--format"; "cifar10dvs"; path; "--out"; out; "--frames"; count; "--cache"; cache |] writer
                    Expect.equal code 0 "exit code"
                    writer.ToString ()
                let first = frames (Path.Combine (root, "a.npy")) "4"
                Expect.stringContains first ", cached" "a miss writes the cache"
                Expect.equal (Directory.GetFiles (cache, "*.npy")).Length 1 "one entry"
                let second = frames (Path.Combine (root, "b.npy")) "4"
                Expect.stringContains second "from the cache" "a hit"
                Expect.equal (File.ReadAllBytes (Path.Combine (root, "b.npy"))) (File.ReadAllBytes (Path.Combine (root, "a.npy"))) "same frames"
                let third = frames (Path.Combine (root, "c.npy")) "5"
                Expect.stringContains third ", cached" "other options, other entry"
                Expect.equal (Npy.read (Path.Combine (root, "c.npy"))).Shape [| 5L; 2L; 128L; 128L |] "the new option applies"
                Expect.equal (Directory.GetFiles (cache, "*.npy")).Length 2 "two entries"
                Expect.isEmpty (Directory.GetFiles (cache, ".*")) "no temporary files left"
            finally Directory.Delete (root, true)
        }
    ]
