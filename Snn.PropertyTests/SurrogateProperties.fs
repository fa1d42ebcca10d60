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

let private families = Gen.map ATan (floatIn 0.1 20.0)
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
                Array.forall2 (fun a b -> abs (a - b) <= 1e-6 * (1.0 + abs b)) g fd)

        testPropertyWithConfig config "the surrogate derivative is positive, even and peaks at 0" <|
            Prop.forAll cases (fun (s, xs) ->
                let x = torch.tensor xs
                let d = values (Surrogate.derivative s x)
                let dMirror = values (Surrogate.derivative s (-x))
                let peak = values (Surrogate.derivative s (torch.zeros ([| 1L |], dtype = torch.float64))) |> Array.head
                Array.forall (fun v -> v > 0.0 && v <= peak) d
                && Array.forall2 (fun a b -> abs (a - b) <= 1e-12 * (1.0 + abs a)) d dMirror)

        testPropertyWithConfig config "the primitive is monotone and bounded in (0, 1)" <|
            Prop.forAll cases (fun (s, xs) ->
                let sorted = Array.sort xs
                let g = values (Surrogate.primitive s (torch.tensor sorted))
                Array.forall (fun v -> v > 0.0 && v < 1.0) g && Array.pairwise g |> Array.forall (fun (a, b) -> a <= b))

        testPropertyWithConfig config "double backward (hvp with ones) equals a central difference of g'" <|
            Prop.forAll cases (fun (s, xs) ->
                let x = torch.tensor xs
                let second = values (Diff.hvp (spikeSum s) x (torch.ones_like x))
                let h = 1e-5
                let fd = values ((Surrogate.derivative s (x + h) - Surrogate.derivative s (x - h)) / (2.0 * h))
                let scale = (Surrogate.derivative s (torch.zeros ([| 1L |], dtype = torch.float64))).ToDouble ()
                Array.forall2 (fun a b -> abs (a - b) <= 1e-4 * scale * (1.0 + abs b)) second fd)
    ]
