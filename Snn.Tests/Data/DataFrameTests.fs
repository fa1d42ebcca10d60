/// Frame integration, filters, the frame cache, augmentation, the dataset API, the DVS emulator and the
/// moving-patterns variants.
module Snn.Tests.DataFrameTests

open System
open System.IO
open Expecto
open TorchSharp
open Snn.Data
open Snn.Tests.DataReaderTests

let private events (list: (int * int * int64 * bool) list) (w: int) (h: int) : CameraEvents =
    { Width = w; Height = h
      X = list |> List.map (fun (x, _, _, _) -> int16 x) |> List.toArray
      Y = list |> List.map (fun (_, y, _, _) -> int16 y) |> List.toArray
      T = list |> List.map (fun (_, _, t, _) -> t) |> List.toArray
      P = list |> List.map (fun (_, _, _, p) -> p) |> List.toArray }

/// Sum over [T; C; H; W] of frame f.
let private frameSum (s: FrameStack) (f: int) =
    let per = s.Data.Length / s.Frames
    s.Data.[f * per .. (f + 1) * per - 1] |> Array.sum

let private sample = MovingPatterns.sample MovingPatterns.Settings.Default 3 0 0

let tests =
    testList "Data.Frames" [
        test "fixed count by number puts floor(N/F) events per frame and the rest in the last" {
            let e = events [ for k in 0 .. 9 -> (k % 4, 0, int64 k, k % 2 = 0) ] 4 1
            let s = Frames.fixedCount 3 ByCount Split e
            Expect.equal s.Shape [| 3L; 2L; 1L; 4L |] "[T; 2; H; W]"
            Expect.equal [ for f in 0 .. 2 -> frameSum s f ] [ 3.0f; 3.0f; 4.0f ] "3, 3, 3 + remainder"
        }
        test "fixed count by time uses floor((t_last - t_first)/F) bins and keeps t_last in the last frame" {
            let e = events [ (0, 0, 100L, true); (0, 0, 132L, true); (0, 0, 133L, false); (0, 0, 199L, true); (0, 0, 200L, true) ] 1 1
            let s = Frames.fixedCount 3 ByTime Merged e
            // Δ = 33: [100, 133) [133, 166) [166, 200]
            Expect.equal [ for f in 0 .. 2 -> frameSum s f ] [ 2.0f; 1.0f; 2.0f ] "bins"
            Expect.equal s.Shape [| 3L; 1L; 1L; 1L |] "merged polarity is one channel"
        }
        test "fixed duration frames start at the first event and count every event once" {
            let s = Frames.fixedDuration 20_000L Split sample.Events
            let span = sample.Events.T.[sample.Events.Count - 1] - sample.Events.T.[0]
            Expect.equal s.Frames (int (span / 20_000L) + 1) "frame count"
            Expect.equal (Array.sum s.Data) (float32 sample.Events.Count) "every event counted"
            Expect.equal (s.ToTensor().shape) s.Shape "tensor shape"
        }
        test "down-sampling by 2 halves the sensor and keeps events" {
            let d = Frames.downsample 3 sample.Events
            Expect.equal (d.Width, d.Height) (6, 6) "ceil(16/3)"
            Events.validate d |> ignore
            Expect.equal d.Count sample.Events.Count "events kept"
        }
        test "refractory filter drops re-firing within the period; denoise drops isolated events and keeps supported ones" {
            let e = events [ (1, 1, 0L, true); (1, 1, 50L, true); (1, 1, 150L, false) ] 4 4
            Expect.equal (Frames.refractory 100L e).T [| 0L; 150L |] "second event inside 100 us dropped"
            let noisy = events [ (0, 0, 0L, true); (3, 3, 10L, true); (2, 2, 20L, true); (0, 3, 5000L, true) ] 4 4
            Expect.equal (Frames.denoise 100L noisy).T [| 20L |] "only (2,2), next to (3,3) 10 us before"
        }
        test "audio bins count events per channel and time bin" {
            let a = { Channels = 3; Channel = [| 0s; 2s; 2s; 1s |]; T = [| 0L; 999L; 1000L; 5000L |] }
            let s = Frames.audioBins 1000L 2 a
            Expect.equal s.Shape [| 2L; 3L |] "[bins; channels]"
            Expect.equal s.Data [| 1.0f; 0.0f; 1.0f; 0.0f; 0.0f; 1.0f |] "t = 5000 is past the last bin"
        }
        test "the frame cache computes once, then reads the same frames from disk" {
            let folder = tempFolder "cache"
            try
                let source = Path.Combine (folder, "source.bin")
                File.WriteAllBytes (source, [| 1uy |])
                let key = FrameCache.key "moving" source "frames=4"
                let mutable calls = 0
                let create () =
                    calls <- calls + 1
                    Frames.fixedCount 4 ByTime Split sample.Events
                let first = FrameCache.getOrCreate folder key create
                let second = FrameCache.getOrCreate folder key create
                Expect.equal calls 1 "computed once"
                Expect.equal second.Shape first.Shape "shape"
                Expect.equal second.Data first.Data "data"
                Expect.isFalse (Directory.GetFiles folder |> Array.exists (fun f -> Path.GetFileName(f).StartsWith ".")) "no temporary file left"
                Expect.notEqual (FrameCache.key "moving" source "frames=5") key "parameters change the key"
            finally Directory.Delete (folder, true)
        }
        test "flip twice is the identity; flips and rolls keep every event; integration commutes with them" {
            let e = sample.Events
            Expect.equal (Augment.flipX (Augment.flipX e)) e "flip twice"
            Expect.equal (Augment.roll -3 5 (Augment.roll 3 -5 e)) e "roll back"
            Expect.equal (Augment.flipX e).Count e.Count "flip keeps events"
            let frames = Frames.fixedCount 5 ByCount Split
            Expect.equal (frames (Augment.flipX e)).Data (Augment.flipFramesX (frames e)).Data "flip commutes"
            Expect.equal (frames (Augment.roll 2 -1 e)).Data (Augment.rollFrames 2 -1 (frames e)).Data "roll commutes"
            // A crop removes events, which moves count-based frame borders: compare on one frame holding everything.
            let whole = Frames.fixedCount 1 ByCount Split
            Expect.equal (whole (Augment.crop 2 3 8 9 e)).Data (Augment.cropFrames 2 3 8 9 (whole e)).Data "crop commutes"
        }
        test "rotation by 90 degrees four times and cutout/crop/shear behave geometrically" {
            let e = events [ (0, 0, 0L, true); (4, 1, 1L, false) ] 5 5
            Expect.equal (Augment.rotate 90.0 e |> Augment.rotate 90.0 |> Augment.rotate 90.0 |> Augment.rotate 90.0) e "full turn"
            let r = Augment.rotate 90.0 e
            Expect.equal (int r.X.[0], int r.Y.[0]) (0, 4) "top-left goes to bottom-left (counter-clockwise on screen)"
            Expect.equal (Augment.cutout 3 0 2 2 e).Count 1 "the event in the box is removed"
            let c = Augment.crop 3 1 2 1 e
            Expect.equal (c.Width, c.Height, int c.X.[0], int c.Y.[0], c.Count) (2, 1, 1, 0, 1) "crop moves coordinates"
            Expect.equal (Augment.shear 0.0 e) e "zero shear"
            let f = Frames.fixedCount 1 ByCount Merged e
            Expect.equal (Augment.rotateFrames 90.0 f).Data (Frames.fixedCount 1 ByCount Merged r).Data "frame rotation agrees"
        }
        test "cutmix takes b inside the box, a outside, with lambda = 1 - box area fraction" {
            let a = events [ (0, 0, 0L, true); (3, 3, 5L, true) ] 4 4
            let b = events [ (1, 1, 2L, false); (3, 3, 9L, false) ] 4 4
            let mixed, lambda = Augment.cutMix 2 2 2 2 a b
            Expect.equal mixed.T [| 0L; 9L |] "a's (0,0) and b's (3,3)"
            Expect.floatClose Accuracy.veryHigh lambda 0.75 "lambda"
            let fm, fl = Augment.cutMixFrames 2 2 2 2 (Frames.fixedCount 1 ByCount Split a) (Frames.fixedCount 1 ByCount Split b)
            Expect.equal fm.Data (Frames.fixedCount 1 ByCount Split mixed).Data "frames agree"
            Expect.equal fl lambda "same lambda"
        }
        test "seeded random augmentation is reproducible and crops fit" {
            let policy = { Augment.Policy.Default with CutoutFraction = 0.25 }
            Expect.equal (Augment.random policy 9 sample.Events) (Augment.random policy 9 sample.Events) "same seed"
            let crops = [ for s in 0 .. 20 -> Augment.randomCrop 10 12 s sample.Events ]
            for c in crops do Events.validate c |> ignore
            Expect.isGreaterThan (crops |> List.map (fun c -> c.Count) |> List.distinct |> List.length) 1 "crops differ by seed"
            let mixed, lambda = Augment.randomCutMix 4 sample.Events (MovingPatterns.sample MovingPatterns.Settings.Default 3 0 1).Events
            Events.validate mixed |> ignore
            Expect.isTrue (lambda >= 0.0 && lambda <= 1.0) "lambda in [0, 1]"
        }
        test "train/validation split holds out 10% at random, disjoint and complete, by seed" {
            let train, validation = Dataset.trainValidationSplit 5 0.1 200
            Expect.equal validation.Length 20 "10%"
            Expect.equal (Array.append train validation |> Array.sort) [| 0 .. 199 |] "disjoint and complete"
            Expect.notEqual validation [| 180 .. 199 |] "random, not the tail"
            Expect.equal (Dataset.trainValidationSplit 5 0.1 200) (train, validation) "same seed, same split"
            Expect.notEqual (Dataset.shuffle 1 50) (Dataset.shuffle 2 50) "seeds differ"
        }
        test "batches are time-first, padded with zeros, with a mask of real steps" {
            let stack (t: int) = { Shape = [| int64 t; 3L |]; Data = Array.init (t * 3) (fun i -> float32 (i + 1)) }
            let batches = Dataset.batches 2 (fun i -> stack (i + 1), i) [| 2; 0; 1 |] |> Seq.toList
            Expect.equal batches.Length 2 "3 samples in batches of 2"
            let b = batches.[0]
            Expect.equal b.Inputs.shape [| 3L; 2L; 3L |] "[T_max; B; channels]"
            Expect.equal (b.Mask.to_type(torch.int64) |> Snn.Tensors.toInt64Array) [| 1L; 1L; 1L; 0L; 1L; 0L |] "mask [T; B]"
            Expect.equal (b.Inputs.[1L, 1L].sum().ToSingle ()) 0.0f "padding is zero"
            Expect.equal (b.Inputs.[2L, 0L] |> Snn.Tests.Assertions.values) [| 7.0; 8.0; 9.0 |] "sample 2's last step"
            Expect.equal (Snn.Tensors.toInt64Array b.Labels) [| 2L; 0L |] "labels"
        }
        test "prefetch yields the same batches in order, in the background, and passes errors on" {
            let load i = { Shape = [| 1L; 1L |]; Data = [| float32 i |] }, i % 3
            let items = Dataset.prefetch 3 (Dataset.batches 2 load [| 0 .. 49 |]) |> Seq.map (fun b -> b.Indices) |> Seq.toList
            Expect.equal items [ for k in 0 .. 24 -> [| 2 * k; 2 * k + 1 |] ] "same order"
            let failing = Dataset.batches 1 (fun i -> if i = 3 then failwith "boom" else load i) [| 0 .. 5 |]
            Expect.throws (fun () -> Dataset.prefetch 2 failing |> Seq.toList |> ignore) "the error reaches the consumer"
            let endless = Dataset.batches 1 load (Seq.initInfinite id |> Seq.take 100_000 |> Seq.toArray)
            Expect.equal (Dataset.prefetch 1 endless |> Seq.take 5 |> Seq.map (fun b -> b.Indices.[0]) |> Seq.toList) [ 0 .. 4 ] "early exit stops"
        }
        test "DVS emulator: a static image gives no events; a moving edge gives symmetric ON/OFF events" {
            let still = { DvsEmulator.Settings.Default with Amplitude = 0.0 }
            let image = Array.init (28 * 28) (fun i -> if i % 28 < 14 then 255uy else 0uy)
            Expect.equal (DvsEmulator.saccades still 28 28 image).Count 0 "no motion, no events"
            let moving = DvsEmulator.saccades DvsEmulator.Settings.Default 28 28 image
            Events.validate moving |> ignore
            let on = moving.P |> Array.filter id |> Array.length
            let off = moving.Count - on
            Expect.isGreaterThan on 100 "the edge produces events"
            Expect.isLessThanOrEqual (abs (on - off)) (moving.Count / 20) "ON and OFF balance over the closed saccade loop"
            let perPixel = Array.zeroCreate<int> (34 * 34)
            for i in 0 .. moving.Count - 1 do
                let p = int moving.Y.[i] * 34 + int moving.X.[i]
                perPixel.[p] <- perPixel.[p] + (if moving.P.[i] then 1 else -1)
            Expect.isTrue (perPixel |> Array.forall (fun d -> abs d <= 1)) "each pixel ends within one event of balance"
            Expect.isTrue (moving.T |> Array.forall (fun t -> t >= 0L && t <= 300_000L)) "three saccades of 100 ms"
        }
        test "DVS emulator on an IDX image set gives labelled event samples (event Fashion-MNIST)" {
            let root = tempFolder "emulator"
            try
                let pixels = Array.init (2 * 28 * 28) (fun i -> if (i / 28) % 28 > 8 && (i / 28) % 28 < 20 && i % 28 > 8 && i % 28 < 20 then 200uy else 0uy)
                File.WriteAllBytes (Path.Combine (root, "t10k-images-idx3-ubyte"), DataFormatWriters.idxBytes [ 2; 28; 28 ] pixels)
                File.WriteAllBytes (Path.Combine (root, "t10k-labels-idx1-ubyte"), DataFormatWriters.idxBytes [ 2 ] [| 4uy; 9uy |])
                let set = ImageSets.loadFolder root false
                let s = DvsEmulator.sampleOf DvsEmulator.Settings.Default set 1
                Expect.equal s.Label 9 "label from the IDX labels"
                Expect.equal (s.Events.Width, s.Events.Height) (34, 34) "34x34 like N-MNIST"
                Expect.isGreaterThan s.Events.Count 50 "a square moved along saccades makes events"
            finally Directory.Delete (root, true)
        }
        test "moving patterns: level 0 equals the default; harder levels have fewer shape events and more noise" {
            Expect.equal (MovingPatterns.sample (MovingPatterns.Settings.Level 0) 4 0 3) (MovingPatterns.sample MovingPatterns.Settings.Default 4 0 3) "level 0 = default"
            let count level = [ for i in 0 .. 19 -> (MovingPatterns.sample { MovingPatterns.Settings.Level level with NoiseEvents = 0.0 } 4 0 i).Events.Count ] |> List.sum
            Expect.isLessThan (count 1) (count 0) "slower, smaller shapes make fewer events"
            let hard = MovingPatterns.sample (MovingPatterns.Settings.Level 3) 4 0 3
            Events.validate hard.Events |> ignore
            Expect.equal hard (MovingPatterns.sample (MovingPatterns.Settings.Level 3) 4 0 3) "deterministic"
        }
        test "moving patterns audio variant: deterministic channels x time samples whose sweeps go the right way" {
            let settings = MovingPatterns.AudioSettings.Default
            let a = MovingPatterns.audioSample settings 2 0 0
            Expect.equal a (MovingPatterns.audioSample settings 2 0 0) "same seed"
            Expect.notEqual a.Events.T (MovingPatterns.audioSample settings 3 0 0).Events.T "other seed"
            Events.validateAudio a.Events |> ignore
            let meanChannel (s: AudioSample) lo hi =
                [ for i in 0 .. s.Events.Count - 1 do if s.Events.T.[i] >= lo && s.Events.T.[i] < hi then yield float s.Events.Channel.[i] ] |> List.average
            Expect.isLessThan (meanChannel a 0L 100_000L) (meanChannel a 400_000L 500_000L) "class 0 rises"
            let falling = MovingPatterns.audioSample settings 2 0 1
            Expect.isGreaterThan (meanChannel falling 0L 100_000L) (meanChannel falling 400_000L 500_000L) "class 1 falls"
            let set = MovingPatterns.audioFrameSet settings 25 1 0 20
            Expect.equal set.Frames.shape [| 20L; 25L; 32L |] "[N; T; channels]"
        }
    ]
