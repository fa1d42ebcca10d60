/// Invariants of the surrogate spike functions: exact Heaviside forward, and a backward pass that is the
/// derivative of a bounded, monotone, symmetric primitive, with a correct second derivative.
module Snn.PropertyTests.SurrogateProperties

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Snn
open Snn.PropertyTests.Generators

/// Every family with random parameters (ASGL without noise: its forward is then the exact spike).
let private families =
    Gen.oneof [
        Gen.map Sigmoid (floatIn 0.5 20.0)
        Gen.map ATan (floatIn 0.1 20.0)
        Gen.map FastSigmoid (floatIn 0.5 20.0)
        Gen.map SuperSpike (floatIn 0.5 20.0)
        Gen.map Triangle (floatIn 0.2 3.0)
        Gen.map Rectangle (floatIn 0.2 3.0)
        Gen.map Gaussian (floatIn 0.1 3.0)
        Gen.map PiecewiseExp (floatIn 0.5 10.0)
        Gen.map2 (fun t s -> SlayerExp (t, s)) (floatIn 0.1 3.0) (floatIn 0.5 3.0)
        Gen.map (fun (w: float) -> Asgl (LogisticRamp, torch.tensor (w, dtype = torch.float64), 0.0)) (floatIn 0.1 3.0) ]

/// Sharpness of a family as one number (larger = closer to Heaviside) and the family at a given sharpness.
let private sharpened (s: Surrogate) (k: float) : Surrogate =
    match s with
    | Sigmoid a -> Sigmoid (a * k)
    | ATan a -> ATan (a * k)
    | FastSigmoid a -> FastSigmoid (a * k)
    | SuperSpike b -> SuperSpike (b * k)
    | Triangle w -> Triangle (w / k)
    | Rectangle w -> Rectangle (w / k)
    | Gaussian sigma -> Gaussian (sigma / k)
    | PiecewiseExp a -> PiecewiseExp (a * k)
    | SlayerExp (t, scale) -> SlayerExp (t / k, scale)
    | Asgl (shape, w, p) -> Asgl (shape, w / k, p)
let private points = Gen.arrayOfLength 16 (floatIn -10.0 10.0)
let private cases = Gen.zip families points |> Arb.fromGen

let private values (t: torch.Tensor) = Tensors.toFloat64Array t
let private spikeSum (s: Surrogate) (x: torch.Tensor) = (Surrogate.spike s x).sum ()

let tests =
    testList "surrogate" [
        testPropertyWithConfig config "forward is exactly Heaviside with a graph attached" <|
            Prop.forAll cases (fun (s, xs) ->
                let x = torch.tensor(xs).requires_grad_ true
                values (Surrogate.spike s x) = (xs |> Array.map (fun v -> if v >= 0.0 then 1.0 else 0.0)))

        testPropertyWithConfig config "backward equals a central difference of the primitive" <|
            Prop.forAll cases (fun (s, xs) ->
                let x = torch.tensor xs
                let g = values (Diff.grad (spikeSum s) x)
                let h = 1e-6
                let fd = values ((Surrogate.primitive s (x + h) - Surrogate.primitive s (x - h)) / (2.0 * h))
                // Near a kink (piecewise families) the central difference errs by O(h |g''|).
                Array.forall2 (fun a b -> abs (a - b) <= 1e-4 * (1.0 + abs b)) g fd)

        testPropertyWithConfig config "the surrogate derivative is non-negative, even and peaks at 0" <|
            Prop.forAll cases (fun (s, xs) ->
                let x = torch.tensor xs
                let d = values (Surrogate.derivative s x)
                let dMirror = values (Surrogate.derivative s (-x))
                let peak = values (Surrogate.derivative s (torch.zeros ([| 1L |], dtype = torch.float64))) |> Array.head
                Array.forall (fun v -> v >= 0.0 && v <= peak) d
                && Array.forall2 (fun a b -> abs (a - b) <= 1e-12 * (1.0 + abs a)) d dMirror)

        testPropertyWithConfig { config with maxTest = 40 } "normalised families integrate to 1; the primitive spans exactly the integral" <|
            Prop.forAll (Arb.fromGen families) (fun s ->
                use scope = torch.NewDisposeScope ()
                // Trapezoid rule: a fine grid (h = 1e-4) on [-20, 20] where the narrow families live, coarser tails
                // to ±2000; the heavy-tailed ATan loses about 2/(π² α L) of its mass beyond ±L.
                let trapezoid (lo: float) (hi: float) (n: int64) =
                    let x = torch.linspace (lo, hi, n, dtype = torch.float64)
                    torch.trapezoid(Surrogate.derivative s x, x).ToDouble ()
                let integral = trapezoid -2000.0 -20.0 200_001L + trapezoid -20.0 20.0 400_001L + trapezoid 20.0 2000.0 200_001L
                let span = (Surrogate.primitive s (torch.tensor [| 2000.0 |]) - Surrogate.primitive s (torch.tensor [| -2000.0 |])).ToDouble ()
                abs (integral - span) <= 1e-3 * span && (not (Surrogate.isNormalised s) || abs (integral - 1.0) <= 2e-3))

        testPropertyWithConfig config "as the sharpness grows the primitive tends to Heaviside pointwise" <|
            Prop.forAll cases (fun (s, xs) ->
                let xs = xs |> Array.filter (fun v -> abs v > 0.5)
                let x = torch.tensor xs
                let h = xs |> Array.map (fun v -> if v >= 0.0 then 1.0 else 0.0)
                let error k =
                    let g = Surrogate.primitive (sharpened s k) x
                    let total = Surrogate.primitive (sharpened s k) (torch.tensor [| 1e9 |]) |> fun t -> t.ToDouble ()
                    Array.map2 (fun a b -> abs (a / total - b)) (values g) h |> Array.fold max 0.0
                xs.Length = 0 || (error 1000.0 <= error 1.0 + 1e-12 && error 1000.0 < 0.02))

        testPropertyWithConfig config "the primitive is non-decreasing and bounded by 0 and its total integral" <|
            Prop.forAll cases (fun (s, xs) ->
                let sorted = Array.sort xs
                let g = values (Surrogate.primitive s (torch.tensor sorted))
                let total = (Surrogate.primitive s (torch.tensor [| 1e9 |])).ToDouble ()
                Array.forall (fun v -> v >= 0.0 && v <= total) g && Array.pairwise g |> Array.forall (fun (a, b) -> a <= b))

        testPropertyWithConfig config "double backward (hvp with ones) equals a central difference of g'" <|
            Prop.forAll cases (fun (s, xs) ->
                let x = torch.tensor xs
                let second = values (Diff.hvp (spikeSum s) x (torch.ones_like x))
                let h = 1e-5
                let fd = values ((Surrogate.derivative s (x + h) - Surrogate.derivative s (x - h)) / (2.0 * h))
                let scale = (Surrogate.derivative s (torch.zeros ([| 1L |], dtype = torch.float64))).ToDouble ()
                Array.forall2 (fun a b -> abs (a - b) <= 1e-4 * scale * (1.0 + abs b)) second fd)
    ]
