/// The algebra of the loss combinators: linearity, the boundary cases of eq. 3.3 and eq. 4.1, and the
/// combination of real spike losses.
module Snn.PropertyTests.LossProperties

open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Snn
open Snn.PropertyTests.Generators

let private scalar (v: float) = torch.tensor (v, dtype = torch.float64)
let private value (t: torch.Tensor) = t.ToDouble ()
let private close (a: float) (b: float) = abs (a - b) <= 1e-9 * (1.0 + abs a + abs b)

let private lossValue = floatIn -10.0 10.0
let private weight = floatIn -3.0 3.0
let private fraction = floatIn 0.0 1.0

let tests =
    testList "loss combinators" [
        testPropertyWithConfig config "weighted sum is linear in the losses" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.arrayOfLength 4 weight) (Gen.arrayOfLength 4 lossValue) (Gen.arrayOfLength 4 lossValue)))
                (fun (w, a, b) ->
                    let sum xs = value (Loss.weightedSum w (Array.map scalar xs))
                    close (sum (Array.map2 (+) a b)) (sum a + sum b) && close (sum (Array.map ((*) 2.5) a)) (2.5 * sum a))

        testPropertyWithConfig config "weighted sum is linear in the weights, and scale is a one-term weighted sum" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.arrayOfLength 3 weight) (Gen.arrayOfLength 3 weight) (Gen.arrayOfLength 3 lossValue)))
                (fun (v, w, l) ->
                    let ls = Array.map scalar l
                    close (value (Loss.weightedSum (Array.map2 (+) v w) ls)) (value (Loss.weightedSum v ls) + value (Loss.weightedSum w ls))
                    && close (value (Loss.scale v.[0] ls.[0])) (value (Loss.weightedSum [| v.[0] |] [| ls.[0] |])))

        testPropertyWithConfig config "auxiliary loss: α = 0 gives the main loss, α = 1 the γ-weighted auxiliaries, affine in between" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 (Gen.zip fraction lossValue) (Gen.arrayOfLength 3 weight) (Gen.arrayOfLength 3 lossValue)))
                (fun ((alpha, main), gammas, aux) ->
                    let l a = value (Loss.auxiliary a gammas (scalar main) (Array.map scalar aux))
                    let auxSum = Array.fold2 (fun s g x -> s + g * x) 0.0 gammas aux
                    close (l 0.0) main && close (l 1.0) auxSum && close (l alpha) ((1.0 - alpha) * main + alpha * auxSum))

        testPropertyWithConfig config "multi-task loss: γ = 0 and 1 select a task, and it is the auxiliary loss with one γ = 1" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 fraction lossValue lossValue))
                (fun (gamma, ly, lt) ->
                    let m g = value (Loss.multiTask g (scalar ly) (scalar lt))
                    close (m 0.0) ly && close (m 1.0) lt
                    && close (m gamma) (value (Loss.auxiliary gamma [| 1.0 |] (scalar ly) [| scalar lt |])))

        testPropertyWithConfig config "combined gradients are the combination of the gradients" <|
            Prop.forAll (Arb.fromGen (Gen.zip3 fraction (Gen.choose (0, 2)) (Gen.arrayOfLength 12 (floatIn 0.05 0.95))))
                (fun (gamma, label, zs) ->
                    let labels = torch.tensor [| int64 label; int64 ((label + 1) % 3) |]
                    let x = torch.tensor(zs).reshape (2L, 2L, 3L)
                    let ly (z: torch.Tensor) = Loss.crossEntropyOnCounts z labels
                    let lt (z: torch.Tensor) = Loss.firstSpikeLoss 1.0 z labels
                    let combined = Diff.grad (fun z -> Loss.multiTask gamma (ly z) (lt z)) x
                    let separate = (Diff.grad ly x) * (1.0 - gamma) + (Diff.grad lt x) * gamma
                    Array.forall2 close (Tensors.toFloat64Array combined) (Tensors.toFloat64Array separate))
    ]
