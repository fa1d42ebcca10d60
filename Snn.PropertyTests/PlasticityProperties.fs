/// Invariants of the STDP rules for arbitrary spike trains: weights stay within their bounds, no spikes on one
/// side means no update, and the symmetric additive rule is odd under time reversal.
module Snn.PropertyTests.PlasticityProperties

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Snn
open Snn.PropertyTests.Generators

/// Sizes, density and a seed for random dense spike trains pre [T; B; In] and post [T; B; Out].
type private Trains = { Steps: int; Batch: int; Inputs: int; Outputs: int; Density: float; Seed: int }

let private trains =
    gen {
        let! steps = Gen.choose (1, 25)
        let! batch = Gen.choose (1, 3)
        let! inputs = Gen.choose (1, 6)
        let! outputs = Gen.choose (1, 4)
        let! density = floatIn 0.0 0.8
        let! seed = Gen.choose (0, 1_000_000)
        return { Steps = steps; Batch = batch; Inputs = inputs; Outputs = outputs; Density = density; Seed = seed }
    }

/// Parameters with random time constants, step, amplitudes and bounds.
let private parameters (dependence: Plasticity.WeightDependence) =
    gen {
        let! tauPre = floatIn 1.0 50.0
        let! tauPost = floatIn 1.0 50.0
        let! dt = floatIn 0.1 2.0
        let! aPlus = floatIn 0.0 0.5
        let! aMinus = floatIn 0.0 0.5
        let! lo = floatIn -1.0 0.5
        let! width = floatIn 0.1 2.0
        return { Plasticity.StdpParameters.Default with
                   TauPre = tauPre; TauPost = tauPost; Dt = dt; APlus = aPlus; AMinus = aMinus
                   WeightMin = lo; WeightMax = lo + width; Dependence = dependence }
    }

let private dependence = Gen.elements [ Plasticity.Additive; Plasticity.Multiplicative ]

/// Random spike trains and a weight within the bounds of `p`.
let private draw (t: Trains) (p: Plasticity.StdpParameters) =
    use g = new torch.Generator (uint64 t.Seed)
    let spikes (n: int) = torch.rand([| int64 t.Steps; int64 t.Batch; int64 n |], generator = g).lt(t.Density.ToScalar ()).``to``(torch.float32)
    let pre, post = spikes t.Inputs, spikes t.Outputs
    let w = torch.rand ([| int64 t.Outputs; int64 t.Inputs |], generator = g) * (p.WeightMax - p.WeightMin) + p.WeightMin
    pre, post, w

let private zero (t: Trains) = Plasticity.zeroTraces [| int64 t.Batch; int64 t.Inputs |] [| int64 t.Batch; int64 t.Outputs |]

let private within (p: Plasticity.StdpParameters) (w: torch.Tensor) =
    let v = Tensors.toFloat64Array w
    v |> Array.forall (fun x -> x >= p.WeightMin - 1e-6 && x <= p.WeightMax + 1e-6)

let tests =
    testList "plasticity" [
        testPropertyWithConfig config "online clamped STDP keeps every weight within its bounds" <|
            Prop.forAll (Arb.fromGen (Gen.zip trains (dependence |> Gen.bind parameters))) (fun (t, p) ->
                use _ = torch.NewDisposeScope ()
                let pre, post, w = draw t p
                let final, _ = Plasticity.stdpOnline p Plasticity.Dense w (zero t) pre post
                within p final)

        testPropertyWithConfig config "unclamped multiplicative STDP stays within its bounds when A·trace ≤ 1" <|
            Prop.forAll (Arb.fromGen (Gen.zip trains (parameters Plasticity.Multiplicative))) (fun (t, p) ->
                use _ = torch.NewDisposeScope ()
                // A trace never exceeds 1/(1 - e^{-dt/τ}); amplitudes below 1 - e^{-dt/τ} keep A·trace ≤ 1, so each
                // step moves w by a convex combination towards W_max and W_min. One sample: no batch sum.
                let p = { p with APlus = p.APlus * (1.0 - Plasticity.decayFactor p.Dt p.TauPre)
                                 AMinus = p.AMinus * (1.0 - Plasticity.decayFactor p.Dt p.TauPost) }
                let t = { t with Batch = 1 }
                let pre, post, w0 = draw t p
                let mutable w = w0
                let mutable traces = zero t
                let mutable ok = true
                for s in 0L .. pre.shape.[0] - 1L do
                    let next, dw = Plasticity.stdpStep p Plasticity.Dense w traces pre.[s] post.[s]
                    traces <- next
                    w <- w + dw
                    ok <- ok && within p w
                ok)

        testPropertyWithConfig config "stabilised first-spike STDP keeps one winner's kernel in [0, 1] without clamping" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.choose (0, 1_000_000)) (floatIn 0.0 1.0) (floatIn 0.0 1.0))) (fun (seed, ltp, ltd) ->
                use _ = torch.NewDisposeScope ()
                use g = new torch.Generator (uint64 seed)
                let w = torch.rand ([| 3L; 2L; 3L; 3L |], generator = g)
                let pre = (torch.rand ([| 1L; 2L; 5L; 5L |], generator = g) * 9.0).floor ()
                let post = (torch.rand ([| 1L; 3L; 5L; 5L |], generator = g) * 8.0).floor ()
                let winners = Plasticity.kWinners 1 0 8 post (torch.rand ([| 1L; 3L; 5L; 5L |], generator = g))
                let p = { Plasticity.FirstSpikeStdpParameters.Default with Potentiation = ltp; Depression = ltd }
                // W + a W(1 - W) ∈ [0, 1] and W - a W(1 - W) ∈ [0, 1] for W ∈ [0, 1] and a ≤ 1.
                let next = w + Plasticity.firstSpikeStdp p 1 1 w pre post winners
                Tensors.toFloat64Array next |> Array.forall (fun x -> x >= -1e-6 && x <= 1.0 + 1e-6))

        testPropertyWithConfig config "no post spikes or no pre spikes: no update" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 trains (dependence |> Gen.bind parameters) (Gen.elements [ true; false ]))) (fun (t, p, silencePost) ->
                use _ = torch.NewDisposeScope ()
                let pre, post, w = draw t p
                let pre, post = if silencePost then pre, torch.zeros_like post else torch.zeros_like pre, post
                let _, dw = Plasticity.stdp p Plasticity.Dense w (zero t) pre post
                Tensors.toFloat64Array dw |> Array.forall (fun x -> x = 0.0))

        testPropertyWithConfig config "symmetric additive STDP changes sign when the spike trains are reversed in time" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 trains (floatIn 1.0 40.0) (floatIn 0.0 0.1))) (fun (t, tau, a) ->
                use _ = torch.NewDisposeScope ()
                let p = { Plasticity.StdpParameters.Default with TauPre = tau; TauPost = tau; APlus = a; AMinus = a; Dependence = Plasticity.Additive }
                let pre, post, w = draw t p
                let _, forward = Plasticity.stdp p Plasticity.Dense w (zero t) pre post
                let _, backward = Plasticity.stdp p Plasticity.Dense w (zero t) (pre.flip 0L) (post.flip 0L)
                Array.forall2 (fun f b -> abs (f + b) <= 1e-5 * (1.0 + abs f)) (Tensors.toFloat64Array forward) (Tensors.toFloat64Array backward))
    ]
