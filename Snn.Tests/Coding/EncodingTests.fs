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
        test "DoG kernels of both forms follow their published formulas" {
            // Expected from the formulas, element by element on a k × k grid centred at (k/2, k/2):
            // Density (SpykeTorch): G_σ(r) = exp(-r²/2σ²) / (2πσ²); UnitSum: G_σ(r) = exp(-r²/2σ²) / Σ_window exp(-r²/2σ²);
            // D = G_c - G_s, then (D - mean D) / max(D - mean D).
            let expected (form: Encoding.DogForm) (k: int) (sc: float) (ss: float) =
                let r2 = [| for i in 0 .. k - 1 do for j in 0 .. k - 1 -> float ((i - k / 2) * (i - k / 2) + (j - k / 2) * (j - k / 2)) |]
                let bell sigma = r2 |> Array.map (fun d -> exp (-d / (2.0 * sigma * sigma)))
                let weighted sigma =
                    let b = bell sigma
                    match form with
                    | Encoding.Density -> b |> Array.map (fun v -> v / (2.0 * Math.PI * sigma * sigma))
                    | Encoding.UnitSum -> b |> Array.map (fun v -> v / Array.sum b)
                let d = Array.map2 (-) (weighted sc) (weighted ss)
                let m = Array.average d
                let top = d |> Array.map (fun v -> v - m) |> Array.max
                d |> Array.map (fun v -> (v - m) / top)
            // S1 of SpykeTorch (7 × 7, (1, 2) and (2, 1)) and Mozafari's 3 × 3 (σ 3/9 and 6/9).
            for k, sc, ss in [ 7, 1.0, 2.0; 7, 2.0, 1.0; 3, 3.0 / 9.0, 6.0 / 9.0; 3, 6.0 / 9.0, 3.0 / 9.0; 5, 1.0, 3.0 ] do
                for form in [ Encoding.Density; Encoding.UnitSum ] do
                    allClose 1e-6 (expected form k sc ss) (values (Encoding.differenceOfGaussiansWith form k sc ss)) $"{form} {k}x{k} ({sc}, {ss})"
            // The forms really differ (else the option would be moot), and the defaults are SpykeTorch's.
            let gap (k: int) (sc: float) (ss: float) =
                Array.map2 (fun a b -> abs (a - b)) (expected Encoding.Density k sc ss) (expected Encoding.UnitSum k sc ss) |> Array.max
            Expect.isGreaterThan (gap 7 2.0 1.0) 0.1 "7x7 off-centre kernels differ"
            Expect.isGreaterThan (gap 3 (6.0 / 9.0) (3.0 / 9.0)) 0.5 "3x3 off-centre kernels differ"
            allClose 0.0 (values (Encoding.differenceOfGaussiansWith Encoding.Density 7 1.0 2.0)) (values (Encoding.differenceOfGaussians 7 1.0 2.0)) "default form"
            allClose 0.0 (values (Encoding.dogBankWith Encoding.Density 7 [| 1.0, 2.0 |])) (values (Encoding.dogBank 7 [| 1.0, 2.0 |])) "default bank"
            Expect.equal StdpInput.ImageCode.Default.Form Encoding.Density "the Mozafari front end uses SpykeTorch's form"
            Expect.throwsT<ArgumentException> (fun () -> Encoding.differenceOfGaussiansWith Encoding.UnitSum 7 1.0 Double.PositiveInfinity |> ignore) "infinite σ"
        }
        test "intensity-to-latency with k not a multiple of T: all fire (Proportional) or the k mod T weakest stay silent (EqualBins)" {
            // k non-zero values 10k, 10(k-1), ..., 10 (rank r = position) followed by zeros; T = 3.
            let steps = 3
            for k in [ 7; 8; 9; 2 ] do
                let x = shaped32 [| 1L; int64 k + 2L |] (Array.init (k + 2) (fun i -> if i < k then float32 (10 * (k - i)) else 0.0f))
                let proportional = Array.init (k + 2) (fun r -> if r < k then r * steps / k else -1)
                let perBin = k / steps
                let equal = Array.init (k + 2) (fun r -> if r < steps * perBin then r / perBin else -1)
                let run bins = spikeSteps ((Encoding.intensityToLatencyWith bins steps false x).reshape (int64 steps, -1L))
                Expect.equal (run Encoding.Proportional) proportional $"k = {k}: ⌊r T / k⌋, every non-zero fires"
                Expect.equal (run Encoding.EqualBins) equal $"k = {k}: bins of ⌊k/T⌋ = {perBin}, {k % steps} weakest silent"
                Expect.equal (run Encoding.Proportional) (spikeSteps ((Encoding.intensityToLatency steps false x).reshape (int64 steps, -1L))) "default = Proportional"
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
