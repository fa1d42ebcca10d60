/// Algebraic laws of the differentiation API.
module Snn.PropertyTests.DiffProperties

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Snn
open Snn.PropertyTests.Generators

let private vectors = Gen.arrayOfLength 5 (floatIn -2.0 2.0)
let private triples = Gen.zip3 vectors vectors vectors |> Arb.fromGen

/// A smooth non-quadratic scalar function with a non-diagonal Hessian.
let private f (x: torch.Tensor) = (torch.sin x * x.roll(1L, 0L)).sum () + (x * x * x).sum () / 3.0

let private close (a: float[]) (b: float[]) = Array.forall2 (fun p q -> abs (p - q) <= 1e-9 * (1.0 + abs q)) a b
let private values (t: torch.Tensor) = Tensors.toFloat64Array t

let tests =
    testList "diff" [
        testPropertyWithConfig config "hvp is linear in v" <|
            Prop.forAll triples (fun (x, v, w) ->
                let x, v, w = torch.tensor x, torch.tensor v, torch.tensor w
                close (values (Diff.hvp f x (v * 2.0 - w))) (values (Diff.hvp f x v * 2.0 - Diff.hvp f x w)))

        testPropertyWithConfig config "the Hessian is symmetric: <w, H v> = <v, H w>" <|
            Prop.forAll triples (fun (x, v, w) ->
                let x, v, w = torch.tensor x, torch.tensor v, torch.tensor w
                let a = (w * Diff.hvp f x v).sum().ToDouble ()
                let b = (v * Diff.hvp f x w).sum().ToDouble ()
                abs (a - b) <= 1e-9 * (1.0 + abs a))

        testPropertyWithConfig config "jvp of the gradient equals hvp (forward-over-reverse = reverse-over-reverse)" <|
            Prop.forAll triples (fun (x, v, _) ->
                let x, v = torch.tensor x, torch.tensor v
                close (values (Diff.jvp (Diff.grad f) x v)) (values (Diff.hvp f x v)))

        testPropertyWithConfig config "<u, J v> = <J^T u, v> for jvp and vjp" <|
            Prop.forAll triples (fun (x, u, v) ->
                let g (x: torch.Tensor) = torch.tanh (x * x.roll(2L, 0L)) + x
                let x, u, v = torch.tensor x, torch.tensor u, torch.tensor v
                let a = (u * Diff.jvp g x v).sum().ToDouble ()
                let b = (Diff.vjp g x u * v).sum().ToDouble ()
                abs (a - b) <= 1e-9 * (1.0 + abs a))
    ]
