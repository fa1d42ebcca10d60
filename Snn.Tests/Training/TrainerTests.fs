/// The trainer's optimisers, schedules, clipping, early stopping, atomic resumable checkpoints and JSON history.
module Snn.Tests.TrainerTests

open System
open System.IO
open Expecto
open TorchSharp
open Snn
open Snn.Data
open Snn.Modules
open Snn.Neurons
open Snn.Tensors
open Snn.Tests.Assertions

let private data = lazy (MovingPatterns.trainTest MovingPatterns.Settings.Default 20 4 96 48)

let private model () =
    torch.manual_seed 4L |> ignore
    new DenseSnn(512, 24, 10, { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }, 8.0)

let private run (settings: Training.TrainerSettings) (m: DenseSnn) =
    let train, test = data.Force ()
    Trainer.train m settings (train.Frames, train.Labels) (test.Frames, test.Labels) ignore Threading.CancellationToken.None

let private temporaryDirectory () =
    let dir = Path.Combine (Path.GetTempPath (), $"snn-trainer-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    dir

let private weights (m: DenseSnn) = m.parameters () |> Seq.map values |> Array.concat

let tests =
    testList "Trainer" [
        test "learning-rate schedules" {
            Expect.floatClose Accuracy.veryHigh (Training.Schedule.learningRate (Training.Cosine 0.0) 1.0 4 1) 1.0 "cosine starts at η₀"
            Expect.floatClose Accuracy.veryHigh (Training.Schedule.learningRate (Training.Cosine 0.0) 1.0 4 3) 0.5 "half way: (1 + cos π/2)/2"
            Expect.floatClose Accuracy.veryHigh (Training.Schedule.learningRate (Training.Cosine 0.1) 1.0 4 4) (0.1 + 0.9 * (1.0 + Math.Cos (0.75 * Math.PI)) / 2.0) "last epoch"
            Expect.equal [ for e in 1 .. 5 -> Training.Schedule.learningRate (Training.StepDecay (2, 0.5)) 0.8 5 e ] [ 0.8; 0.8; 0.4; 0.4; 0.2 ] "step decay"
            Expect.throwsT<ArgumentException> (fun () -> Training.Schedule.learningRate (Training.StepDecay (0, 0.5)) 1.0 3 1 |> ignore) "every = 0"
        }
        test "AdamW with a cosine schedule and SGD with momentum both lower the loss; the schedule is applied" {
            for optimizer, rate in [ Training.AdamW 0.01, 1e-2; Training.Sgd (0.9, false), 0.5 ] do
                use m = model ()
                let settings = { Training.TrainerSettings.Default with Epochs = 3; BatchSize = 16; LearningRate = rate; Optimizer = optimizer; Schedule = Training.Cosine 0.0 }
                let h = run settings m
                Expect.equal (h.Entries |> Array.map (fun e -> e.LearningRate)) [| for e in 1 .. 3 -> Training.Schedule.learningRate (Training.Cosine 0.0) rate 3 e |] $"{optimizer}: scheduled rates"
                Expect.isLessThan h.Entries.[2].TrainLoss h.Entries.[0].TrainLoss $"{optimizer}: the loss falls (%A{h.Entries |> Array.map (fun e -> e.TrainLoss, e.GradientNorm, e.TrainAccuracy)})"
        }
        test "gradient clipping bounds the update; the measured norm is the unclipped one" {
            use a = model ()
            let before = weights a
            // Without the calibrated initialisation, which would move the weights before the step.
            let settings = { Training.TrainerSettings.Default with Epochs = 1; BatchSize = 96; LearningRate = 1.0; Optimizer = Training.Sgd (0.0, false); ClipGradientNorm = Some 1e-3; Calibration = NoCalibration }
            let h = run settings a
            let step = Array.map2 (fun x y -> (x - y) * (x - y)) (weights a) before |> Array.sum |> sqrt
            // One SGD step of rate 1 on a gradient clipped to norm 1e-3 moves the weights by at most 1e-3.
            Expect.isLessThanOrEqual step 1.001e-3 "update norm"
            Expect.isGreaterThan h.Entries.[0].GradientNorm 1e-3 "the raw gradient was larger than the clip"
        }
        test "early stopping ends a run that stops improving" {
            use m = model ()
            let settings = { Training.TrainerSettings.Default with Epochs = 6; BatchSize = 32; LearningRate = 1e-12; EarlyStoppingPatience = Some 2 }
            let h = run settings m
            Expect.isTrue h.StoppedEarly "stopped early"
            Expect.equal h.Entries.Length 3 "best at epoch 1 (nothing changes), two more epochs of patience"
            Expect.equal h.BestEpoch 1 "best epoch"
        }
        test "checkpoints are atomic and a resumed run continues exactly where it stopped" {
            let dir = temporaryDirectory ()
            try
                let settings = { Training.TrainerSettings.Default with Epochs = 2; BatchSize = 32; LearningRate = 3e-3; CheckpointDirectory = Some dir; Resume = true }
                use first = model ()
                let h1 = run settings first
                Expect.equal h1.Entries.Length 2 "two epochs"
                Expect.isTrue (Training.Checkpoint.exists dir) "complete checkpoint"
                Expect.isEmpty (Directory.GetFiles (dir, "*.tmp")) "no temporary file left behind"
                Expect.equal (Directory.GetDirectories dir |> Array.map Path.GetFileName) [| "epoch-000002" |] "only the newest complete checkpoint is kept"
                let saved = Training.Checkpoint.readHistory dir
                Expect.equal saved h1.Entries "the history JSON round-trips"
                // Resume to 3 epochs in a fresh model, and compare with an uninterrupted 3-epoch run.
                use resumed = new DenseSnn(512, 24, 10, { LifParameters.Default with TauMem = 20.0; Dt = 10.0 }, 8.0)
                let h2 = run { settings with Epochs = 3 } resumed
                Expect.equal (h2.Entries |> Array.map (fun e -> e.Epoch)) [| 1; 2; 3 |] "history continues"
                Expect.equal h2.Entries.[0 .. 1] h1.Entries "earlier epochs come from the checkpoint"
                use straight = model ()
                let h3 = run { settings with Epochs = 3; CheckpointDirectory = None; Resume = false } straight
                Expect.notEqual h3.Entries.[2].TrainLoss h3.Entries.[0].TrainLoss "the run really trains (the comparison is not between two idle models)"
                allClose 1e-5 (weights straight) (weights resumed) "same weights as an uninterrupted run"
                Expect.floatClose Accuracy.medium h2.Entries.[2].TrainLoss h3.Entries.[2].TrainLoss "same third-epoch loss"
            finally
                Directory.Delete (dir, true)
        }
        test "a kill at any point of a checkpoint save leaves the previous complete checkpoint, and resume trains the right epochs" {
            let dir = temporaryDirectory ()
            try
                let settings = { Training.TrainerSettings.Default with Epochs = 2; BatchSize = 32; LearningRate = 3e-3; CheckpointDirectory = Some dir; Resume = true }
                use first = model ()
                let h1 = run settings first
                let complete = Path.Combine (dir, "epoch-000002")
                // Kill while writing epoch 3: a staging folder with a model and no manifest ...
                let staging = Path.Combine (dir, ".partial-killed")
                Directory.CreateDirectory staging |> ignore
                File.Copy (Training.Checkpoint.modelPath complete, Training.Checkpoint.modelPath staging)
                // ... or an epoch folder of the old flat kind, renamed without a manifest.
                let unfinished = Path.Combine (dir, "epoch-000003")
                Directory.CreateDirectory unfinished |> ignore
                File.Copy (Training.Checkpoint.modelPath complete, Training.Checkpoint.modelPath unfinished)
                File.WriteAllText (Training.Checkpoint.historyPath unfinished, "[")
                Expect.equal (Training.Checkpoint.latest dir) (Some complete) "the newest folder with a manifest is the checkpoint"
                use resumed = model ()
                let h2 = run { settings with Epochs = 4 } resumed
                Expect.equal (h2.Entries |> Array.map (fun e -> e.Epoch)) [| 1; 2; 3; 4 |] "epochs 3 and 4 are trained once each"
                Expect.equal h2.Entries.[0 .. 1] h1.Entries "epochs 1 and 2 come from the complete checkpoint"
                Expect.equal (Directory.GetDirectories dir |> Array.map Path.GetFileName) [| "epoch-000004" |] "stale and older folders are cleaned"
                Expect.equal (Training.Checkpoint.readHistory dir |> Array.length) 4 "the new checkpoint is whole"
            finally
                Directory.Delete (dir, true)
        }
        test "damaged checkpoints give one clear error naming the file and are never overwritten" {
            let dir = temporaryDirectory ()
            try
                let settings = { Training.TrainerSettings.Default with Epochs = 1; BatchSize = 32; LearningRate = 3e-3; CheckpointDirectory = Some dir; Resume = true }
                use first = model ()
                run settings first |> ignore
                let folder = Path.Combine (dir, "epoch-000001")
                let pristine = [ for f in Directory.GetFiles folder -> f, File.ReadAllBytes f ] |> Map.ofList
                let restore () = for KeyValue (f, bytes) in pristine do File.WriteAllBytes (f, bytes)
                let refused (what: string) (damage: unit -> unit) (named: string) =
                    restore ()
                    damage ()
                    let before = [ for f in Directory.GetFiles folder -> f, File.ReadAllBytes f ]
                    use m = model ()
                    let e = Expect.throwsC (fun () -> run { settings with Epochs = 3 } m |> ignore) id
                    Expect.isTrue (e :? InvalidDataException) $"{what}: InvalidDataException, got {e.GetType().Name}: {e.Message}"
                    Expect.stringContains e.Message named $"{what}: names the file"
                    Expect.isFalse (e.Message.Contains '\n') $"{what}: one line"
                    Expect.equal [ for f in Directory.GetFiles folder -> f, File.ReadAllBytes f ] before $"{what}: nothing was overwritten"
                    Expect.isFalse (Directory.Exists (Path.Combine (dir, "epoch-000002"))) $"{what}: no training started"
                let model', optimizer = Training.Checkpoint.modelPath folder, Training.Checkpoint.optimizerPath folder
                refused "truncated model" (fun () -> File.WriteAllBytes (model', pristine.[model'].[.. 99])) "model.bin"
                refused "flipped byte" (fun () ->
                    let bytes = Array.copy pristine.[model']
                    bytes.[bytes.Length / 2] <- bytes.[bytes.Length / 2] ^^^ 0xFFuy
                    File.WriteAllBytes (model', bytes)) "model.bin"
                refused "missing optimiser state" (fun () -> File.Delete optimizer) "optimizer.bin"
                refused "garbage manifest" (fun () -> File.WriteAllText (Training.Checkpoint.manifestPath folder, "{ nope")) "manifest.json"
                // Garbage that matches its manifest (rewritten by hand) still fails as one line naming the file.
                refused "garbage model with a matching manifest" (fun () ->
                    let junk = Array.init 4096 (fun i -> byte (i * 37))
                    File.WriteAllBytes (model', junk)
                    let sha = Convert.ToHexString(Security.Cryptography.SHA256.HashData junk).ToLowerInvariant ()
                    let manifest = File.ReadAllText (Training.Checkpoint.manifestPath folder)
                    // The manifest's names are snake_case, as in every JSON file Snn writes.
                    let old = Text.Json.JsonDocument.Parse(manifest).RootElement.GetProperty("files").EnumerateArray() |> Seq.find (fun f -> f.GetProperty("file").GetString () = "model.bin")
                    let oldBytes = old.GetProperty("bytes").GetInt64 ()
                    File.WriteAllText (Training.Checkpoint.manifestPath folder,
                                       manifest.Replace(old.GetProperty("sha256").GetString (), sha).Replace($"\"bytes\": {oldBytes},", "\"bytes\": 4096,"))) "model.bin"
                // A manifest written before the snake_case names (PascalCase) still verifies.
                restore ()
                let manifestFile = Training.Checkpoint.manifestPath folder
                let pascal =
                    [ "epoch", "Epoch"; "files", "Files"; "file", "File"; "bytes", "Bytes"; "sha256", "Sha256" ]
                    |> List.fold (fun (text: string) (snake, older) -> text.Replace ($"\"{snake}\":", $"\"{older}\":")) (File.ReadAllText manifestFile)
                Expect.stringContains pascal "\"Sha256\":" "rewritten in the older form"
                File.WriteAllText (manifestFile, pascal)
                Expect.equal (Training.Checkpoint.latest dir) (Some folder) "the older manifest verifies"
                restore ()
                // The older flat layout with a missing optimiser state is refused, not restarted.
                let flat = temporaryDirectory ()
                try
                    File.Copy (Training.Checkpoint.modelPath folder, Training.Checkpoint.modelPath flat)
                    use m = model ()
                    let e = Expect.throwsC (fun () -> run { settings with CheckpointDirectory = Some flat } m |> ignore) id
                    Expect.stringContains e.Message "no optimizer.bin" "the missing file is named"
                finally Directory.Delete (flat, true)
            finally
                Directory.Delete (dir, true)
        }
        test "live tensors do not grow with the number of steps (clipping and schedule included)" {
            let live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount
            let leftAlive epochs =
                let before = live ()
                use m = model ()
                run { Training.TrainerSettings.Default with Epochs = epochs; BatchSize = 32; Optimizer = Training.AdamW 0.01
                                                            Schedule = Training.Cosine 0.0; ClipGradientNorm = Some 1.0 } m |> ignore
                live () - before
            let short = leftAlive 1
            let long = leftAlive 4
            Expect.isLessThanOrEqual long short $"after 3 steps {short} tensors stayed alive, after 12 steps {long}"
        }
        test "bad settings raise ArgumentException naming the setting" {
            use m = model ()
            let named name settings =
                let e = Expect.throwsC (fun () -> run settings m |> ignore) id
                Expect.equal (e :?> ArgumentException).ParamName name $"names {name}"
            named "Resume" { Training.TrainerSettings.Default with Resume = true }
            named "ClipGradientNorm" { Training.TrainerSettings.Default with ClipGradientNorm = Some 0.0 }
            named "Optimizer" { Training.TrainerSettings.Default with Optimizer = Training.Sgd (1.5, false) }
            named "every" { Training.TrainerSettings.Default with Schedule = Training.StepDecay (0, 0.5) }
        }
    ]
