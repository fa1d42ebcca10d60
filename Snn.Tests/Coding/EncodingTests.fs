/// Encoders against hand-computed spike trains and their invariants.
module Snn.Tests.EncodingTests

open System
open Expecto
open TorchSharp
open Snn
open Snn.Tensors
open Snn.Tests.Assertions

/// The step of the (single) spike of each element of one-spike trains [T; N], or -1 when silent.
let private spikeSteps (spikes: Tensor) : int[] =
    let steps = int spikes.shape.[0]
    let z = values spikes
    let n = z.Length / steps
    Array.init n (fun i -> [ 0 .. steps - 1 ] |> List.tryFind (fun t -> z.[t * n + i] = 1.0) |> Option.defaultValue -1)

let tests =
    testList "Encoding" [
        test "Poisson rate code: seeded, binary, its mean converges to the intensity" {
            let x = shaped32 [| 1L; 4L |] [| 0.0f; 0.1f; 0.5f; 1.0f |]
            let z = Encoding.poisson 7L 4000 x
            Expect.equal z.shape [| 4000L; 1L; 4L |] "shape [T; B; N]"
            Expect.isTrue (values z |> Array.forall (fun v -> v = 0.0 || v = 1.0)) "binary"
            // 4000 Bernoulli draws: the standard error of the mean is at most 0.008.
            allClose 0.03 [| 0.0; 0.1; 0.5; 1.0 |] (values (z.mean ([| 0L; 1L |]))) "rates"
            Expect.equal (values (Encoding.poisson 7L 50 x)) (values (Encoding.poisson 7L 50 x)) "same seed, same train"
            Expect.notEqual (values (Encoding.poisson 7L 50 x)) (values (Encoding.poisson 8L 50 x)) "another seed, another train"
            Expect.throwsT<ArgumentException> (fun () -> Encoding.poisson 0L 5 (shaped32 [| 1L |] [| 1.5f |]) |> ignore) "intensity > 1"
        }
        test "linear latency code: one spike at round((T-1)(1-x)), silent at or below the threshold" {
            let x = shaped32 [| 1L; 5L |] [| 1.0f; 0.5f; 0.0f; 0.75f; 0.05f |]
            let z = Encoding.latency Encoding.Linear 0.1 5 x
            Expect.equal z.shape [| 5L; 1L; 5L |] "shape"
            Expect.equal (spikeSteps (z.reshape (5L, -1L))) [| 0; 2; -1; 1; -1 |] "steps"
        }
        test "logarithmic latency code: τ ln(x/(x-θ)), monotone in the intensity" {
            let x = shaped32 [| 1L; 2L |] [| 1.0f; 0.25f |]
            // τ = 5, θ = 0.2: x = 1 → 5 ln 1.25 = 1.12 → 1; x = 0.25 → 5 ln 5 = 8.05 → clipped to T - 1 = 7.
            allClose 0.0 [| 1.0; 7.0 |] (values (Encoding.latencyTimes (Encoding.Logarithmic 5.0) 0.2 8 x)) "times"
            let ramp = torch.linspace(0.0, 1.0, 101L, dtype = torch.float32).unsqueeze 0L
            for code in [ Encoding.Linear; Encoding.Logarithmic 3.0 ] do
                let times = values (Encoding.latencyTimes code 0.05 20 ramp)
                Expect.isTrue (Array.pairwise times |> Array.forall (fun (a, b) -> b <= a)) $"{code}: brighter never fires later"
        }
        test "delta code: events where the change reaches the threshold, signed on request" {
            let series = shaped32 [| 4L; 1L; 1L |] [| 0.0f; 0.5f; 0.6f; 0.1f |]
            allClose 0.0 [| 0.; 1.; 0.; -1. |] (values (Encoding.delta 0.3 true series)) "signed"
            allClose 0.0 [| 0.; 1.; 0.; 1. |] (values (Encoding.delta 0.3 false series)) "unsigned"
            // x_{-1} = 0: a large first value is an event.
            allClose 0.0 [| 1.; 0. |] (values (Encoding.delta 0.3 false (shaped32 [| 2L; 1L |] [| 0.9f; 0.9f |]))) "first step"
        }
        test "direct current repeats the input as a fresh tensor" {
            let x = shaped32 [| 2L; 2L |] [| 0.1f; 0.2f; 0.3f; 0.4f |]
            let c = Encoding.directCurrent 3 x
            Expect.equal c.shape [| 3L; 2L; 2L |] "shape"
            allClose 1e-7 (Array.concat [ values x; values x; values x ]) (values c) "every step equals the input"
            c.[0].mul_ (torch.tensor 0.0f) |> ignore
            allClose 1e-7 [| 0.1; 0.2; 0.3; 0.4 |] (values x) "the input is untouched"
        }
        test "difference-of-Gaussians kernel: zero mean, peak 1, symmetric, on- and off-centre" {
            let on = Encoding.differenceOfGaussians 7 1.0 2.0
            let k = values on
            Expect.isLessThan (abs (Array.sum k)) 1e-6 "zero sum (float32)"
            Expect.floatClose Accuracy.high (Array.max k) 1.0 "peak 1"
            Expect.equal (Array.max k) k.[24] "on-centre: the peak is the centre"
            allClose 1e-6 k (values (on.flip ([| 0L; 1L |]))) "point symmetric"
            let off = values (Encoding.differenceOfGaussians 7 2.0 1.0)
            Expect.isLessThan off.[24] 0.0 "off-centre: negative centre"
            // A uniform image has no edge: the zero-mean filter answers 0 away from the zero-padded border.
            let maps = Encoding.dogFilter (Encoding.dogBank 7 [| 1.0, 2.0; 2.0, 1.0 |]) 0.0 (torch.ones ([| 1L; 1L; 16L; 16L |]))
            Expect.equal maps.shape [| 1L; 2L; 16L; 16L |] "maps keep H × W"
            Expect.isLessThan (maps.[0L, 0L].narrow(0L, 3L, 10L).narrow(1L, 3L, 10L).abs().max().ToDouble ()) 1e-5 "no response inside"
            // A vertical edge drives the on-centre filter next to it.
            let edge = torch.cat ([| torch.zeros ([| 1L; 1L; 16L; 8L |]); torch.ones ([| 1L; 1L; 16L; 8L |]) |], 3L)
            let response = Encoding.dogFilter (Encoding.dogBank 7 [| 1.0, 2.0 |]) 0.0 edge
            Expect.isGreaterThan (response.[0L, 0L, 8L, 8L].ToDouble ()) 0.1 "on the bright side of the edge"
        }
        test "intensity-to-latency: ranks split into T equal bins, zeros silent, cumulative on request" {
            let x = shaped32 [| 1L; 4L |] [| 0.9f; 0.0f; 0.5f; 0.7f |]
            let z = Encoding.intensityToLatency 3 false x
            Expect.equal (spikeSteps (z.reshape (3L, -1L))) [| 0; -1; 2; 1 |] "steps by rank"
            let c = Encoding.intensityToLatency 3 true x
            allClose 0.0 [| 1.; 0.; 0.; 0.;  1.; 0.; 0.; 1.;  1.; 0.; 1.; 1. |] (values c) "cumulative"
            // 6 values over 3 steps: two per step, per sample independently.
            let y = shaped32 [| 2L; 6L |] [| 6.f; 5.f; 4.f; 3.f; 2.f; 1.f;  1.f; 2.f; 3.f; 4.f; 5.f; 6.f |]
            let steps = spikeSteps ((Encoding.intensityToLatency 3 false y).reshape (3L, -1L))
            Expect.equal steps [| 0; 0; 1; 1; 2; 2;  2; 2; 1; 1; 0; 0 |] "two per bin"
        }
    ]
