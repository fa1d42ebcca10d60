module Snn.Tests.DataTests

open System
open System.IO
open Expecto
open TorchSharp
open Snn.Data
open Snn.Tests.Assertions

let private settings = MovingPatterns.Settings.Default

let tests =
    testList "Data" [
        test "frames by time count every event in its bin and polarity channel" {
            let events =
                { Width = 4; Height = 3
                  X = [| 0s; 3s; 3s; 1s |]; Y = [| 0s; 2s; 2s; 1s |]
                  T = [| 0L; 10L; 49L; 99L |]; P = [| true; false; false; true |] }
            let frames = (Frames.inWindow 2 0L 100L Split events).ToTensor ()
            Expect.equal frames.shape [| 2L; 2L; 3L; 4L |] "[T; 2; H; W]"
            Expect.equal (frames.[0L, 1L, 0L, 0L].ToSingle ()) 1.0f "ON event at t = 0 in frame 0"
            Expect.equal (frames.[0L, 0L, 2L, 3L].ToSingle ()) 2.0f "two OFF events at (3, 2) in frame 0"
            Expect.equal (frames.[1L, 1L, 1L, 1L].ToSingle ()) 1.0f "ON event at t = 99 in frame 1"
            Expect.equal (frames.sum().ToSingle ()) 4.0f "nothing else"
        }
        test "events outside the sensor are reported with their index" {
            let events = { Width = 2; Height = 2; X = [| 0s; 2s |]; Y = [| 0s; 0s |]; T = [| 0L; 1L |]; P = [| true; true |] }
            let e = Expect.throwsC (fun () -> Events.validate events |> ignore) id
            Expect.isTrue (e :? InvalidDataException) "InvalidDataException"
            Expect.stringContains e.Message "event 1" "names the event"
        }
        test "moving patterns are deterministic by seed and differ across seeds and splits" {
            let a = MovingPatterns.sample settings 5 0 17
            let b = MovingPatterns.sample settings 5 0 17
            let c = MovingPatterns.sample settings 6 0 17
            let d = MovingPatterns.sample settings 5 1 17
            Expect.equal (a.Events.T, a.Events.X, a.Events.P) (b.Events.T, b.Events.X, b.Events.P) "same seed, same events"
            Expect.notEqual a.Events.T c.Events.T "another seed gives other events"
            Expect.notEqual a.Events.T d.Events.T "the test split differs from the train split"
            Expect.equal a.Label 7 "label = index mod 10"
        }
        test "every class produces valid, time-ordered ON and OFF events on the sensor" {
            for label in 0 .. 9 do
                let s = MovingPatterns.sample settings 1 0 label
                Events.validate s.Events |> ignore
                Expect.isGreaterThan s.Events.Count 30 $"class {label} has events"
                Expect.isTrue (Array.contains true s.Events.P && Array.contains false s.Events.P) $"class {label} has both polarities"
                Expect.isTrue (s.Events.T |> Array.forall (fun t -> t >= 0L && t < settings.DurationUs)) "times inside the sample"
        }
        test "a disk moving right puts its ON events right of its OFF events" {
            let s = MovingPatterns.sample settings 2 0 0
            let meanX polarity =
                Array.zip s.Events.X s.Events.P |> Array.filter (fun (_, p) -> p = polarity) |> Array.averageBy (fst >> float)
            Expect.isGreaterThan (meanX true) (meanX false) "leading edge ON, trailing edge OFF"
        }
        test "frame sets have the documented shape and balanced labels" {
            let set = MovingPatterns.frameSet settings 10 0 0 40
            Expect.equal set.Frames.shape [| 40L; 10L; 2L * 16L * 16L |] "[N; T; 2·16·16]"
            let counts = Snn.Tensors.toInt64Array set.Labels |> Array.countBy id
            Expect.equal counts.Length 10 "ten classes"
            Expect.isTrue (counts |> Array.forall (fun (_, n) -> n = 4)) "four samples each"
        }
    ]
