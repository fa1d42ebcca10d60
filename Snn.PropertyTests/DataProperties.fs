/// Invariants of event streams under augmentation and integration, on random recordings, and a round trip of the
/// N-MNIST byte layout.
module Snn.PropertyTests.DataProperties

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Snn.Data
open Snn.PropertyTests.Generators

/// A random time-sorted recording on a sensor of 2..40 × 2..40 pixels with 0..200 events.
let private recordings : Arbitrary<CameraEvents> =
    gen {
        let! w = Gen.choose (2, 40)
        let! h = Gen.choose (2, 40)
        let! n = Gen.choose (0, 200)
        let! xs = Gen.arrayOfLength n (Gen.choose (0, w - 1))
        let! ys = Gen.arrayOfLength n (Gen.choose (0, h - 1))
        let! gaps = Gen.arrayOfLength n (Gen.choose (0, 5000))
        let! ps = Gen.arrayOfLength n (Gen.elements [ true; false ])
        return
            { Width = w; Height = h
              X = xs |> Array.map int16; Y = ys |> Array.map int16
              T = gaps |> Array.scan (fun acc g -> acc + int64 g) 0L |> Array.tail
              P = ps }
    }
    |> Arb.fromGen

let private total (s: FrameStack) = s.Data |> Array.sumBy float

let tests =
    testList "data" [
        testPropertyWithConfig config "a horizontal flip applied twice is the identity" <|
            Prop.forAll recordings (fun e -> Augment.flipX (Augment.flipX e) = e)

        testPropertyWithConfig config "rolling by (dx, dy) then (-dx, -dy) is the identity and keeps the count" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 recordings.Generator (Gen.choose (-50, 50)) (Gen.choose (-50, 50)))) (fun (e, dx, dy) ->
                let rolled = Augment.roll dx dy e
                rolled.Count = e.Count && Augment.roll -dx -dy rolled = e)

        testPropertyWithConfig config "fixed-count frames, by number or by time, count every event exactly once" <|
            Prop.forAll (Arb.fromGen (Gen.zip recordings.Generator (Gen.choose (1, 12)))) (fun (e, frames) ->
                let n = float e.Count
                total (Frames.fixedCount frames ByCount Split e) = n
                && total (Frames.fixedCount frames ByTime Merged e) = n
                && (e.Count = 0 || total (Frames.fixedDuration 1000L Split e) = n))

        testPropertyWithConfig config "cutout and cutmix partition the sensor: kept + removed = all" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 recordings.Generator (Gen.choose (0, 40)) (Gen.choose (0, 40)))) (fun (e, x0, y0) ->
                let kept = Augment.cutout x0 y0 5 7 e
                let mixedWithItself, _ = Augment.cutMix x0 y0 5 7 e e
                kept.Count <= e.Count && mixedWithItself.Count = e.Count)

        testPropertyWithConfig config "N-MNIST bytes written per the published layout decode to the same events" <|
            Prop.forAll recordings (fun e ->
                let e = { e with X = e.X |> Array.map (fun x -> int16 (int x % 34)); Y = e.Y |> Array.map (fun y -> int16 (int y % 34)); Width = 34; Height = 34 }
                let bytes =
                    [| for i in 0 .. e.Count - 1 do
                        let t = e.T.[i]
                        yield byte e.X.[i]
                        yield byte e.Y.[i]
                        yield byte ((if e.P.[i] then 0x80L else 0L) ||| ((t >>> 16) &&& 0x7FL))
                        yield byte (t >>> 8)
                        yield byte t |]
                NMnist.parse "p.bin" bytes = e)
    ]
