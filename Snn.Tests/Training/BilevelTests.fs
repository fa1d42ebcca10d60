module Snn.Tests.BilevelTests

open Expecto
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Modules

type private Tensor = torch.Tensor

let private perSample (logits: Tensor) (labels: Tensor) =
    torch.nn.functional.cross_entropy (logits, labels, reduction = torch.nn.Reduction.None)

let tests =
    testList "Bilevel" [
        test "AuxiLearn on a spiking network raises the weight of a useful auxiliary task above that of a random one" {
            torch.manual_seed 3L |> ignore
            use g = new torch.Generator (11UL)
            let spikes (b: int64) = (torch.rand ([| 8L; b; 6L |], generator = g)).lt(torch.tensor 0.4f).``to`` (torch.float32)
            // Main task: the busiest of input channels 0-2. Auxiliary 1 repeats it (useful); auxiliary 2 is noise (A4-like).
            let busiest (x: Tensor) = x.sum([| 0L |]).narrow(1L, 0L, 3L).argmax (1L)
            let train, valid = spikes 64L, spikes 64L
            let yTrain, yValid = busiest train, busiest valid
            let yNoise = torch.randint (3L, [| 64L |], generator = g)
            let neuron = { LifParameters.Default with Dt = 5.0 }
            let fc = torch.nn.Linear (6L, 16L)
            let heads = [| for _ in 1 .. 3 -> torch.nn.Linear (16L, 3L) |]
            let weights = Array.append (Array.ofSeq (fc.parameters ())) (heads |> Array.collect (fun h -> Array.ofSeq (h.parameters ())))
            let rates (x: Tensor) = (Lif.unroll neuron (fc.forward x * 3.0)).mean ([| 0L |])
            use combiner = new LinearLossCombiner (2, 1.0)
            let trainLoss () =
                let r = rates train
                let aux = torch.stack ([| perSample (heads.[1].forward r) yTrain; perSample (heads.[2].forward r) yNoise |], 1L)
                (perSample (heads.[0].forward r) yTrain).mean () + combiner.forward aux
            let outerLoss () = torch.nn.functional.cross_entropy (heads.[0].forward (rates valid), yValid)
            let trainer =
                Bilevel.Trainer (weights |> Array.map (fun p -> p :> Tensor), Array.ofSeq (combiner.parameters ()),
                                 torch.optim.Adam (weights, 0.01), { Bilevel.Settings.Default with Interval = 2; HyperLearningRate = 0.05 })
            let reports = [ for _ in 1 .. 60 -> trainer.Step (trainLoss, outerLoss) ]
            let hyperSteps = reports |> List.choose (fun r -> r.OuterLoss)
            Expect.equal hyperSteps.Length 30 "a hyper step every second weight step"
            Expect.isLessThan (List.last hyperSteps) (List.head hyperSteps) "the outer (validation) loss falls"
            let gamma = combiner.Weights.data<float32>().ToArray ()
            Expect.isGreaterThan (float gamma.[0] - float gamma.[1]) 0.3 $"useful task weighted above the random one: %A{gamma}"
            Expect.isTrue (reports |> List.forall (fun r -> r.HypergradientNorm |> Option.forall (fun n -> n > 0.0 && not (System.Double.IsNaN n)))) "finite, non-zero hypergradients"
        }
        test "the trainer refuses overlapping weight and hyperparameter sets and a zero interval" {
            let p = torch.nn.Parameter (torch.zeros (3L))
            let optimizer = torch.optim.SGD ([| p |], 0.1)
            let e = Expect.throwsC (fun () -> Bilevel.Trainer ([| p :> Tensor |], [| p |], optimizer, Bilevel.Settings.Default) |> ignore) id
            Expect.stringContains e.Message "hyperparameters" "names the parameter"
            let q = torch.nn.Parameter (torch.zeros (2L))
            let e = Expect.throwsC (fun () -> Bilevel.Trainer ([| p :> Tensor |], [| q |], optimizer, { Bilevel.Settings.Default with Interval = 0 }) |> ignore) id
            Expect.stringContains e.Message "Interval" "names the field"
        }
        test "hypergradient clipping bounds the norm, keeps the direction and leaves small gradients unchanged" {
            // g = ([3, 4], [12]): ‖g‖ = sqrt(9 + 16 + 144) = 13.
            let g = [| torch.tensor ([| 3.0; 4.0 |], dtype = torch.float64); torch.tensor ([| 12.0 |], dtype = torch.float64) |]
            let flat (gs: Tensor[]) = gs |> Array.collect (fun t -> t.data<float>().ToArray ())
            let norm (gs: Tensor[]) = sqrt (flat gs |> Array.sumBy (fun v -> v * v))
            for c in [ 1.0; 6.5; 12.999 ] do
                let clipped = Bilevel.clipNorm c g
                Expect.floatClose Accuracy.veryHigh (norm clipped) c $"clip {c}: the norm is brought down to the bound"
                Assertions.allClose 1e-12 (flat g |> Array.map (fun v -> v * c / 13.0)) (flat clipped) $"clip {c}: g · c / ‖g‖"
            for c in [ 13.0; 20.0; 1e6 ] do
                Expect.equal (flat (Bilevel.clipNorm c g)) (flat g) $"clip {c} ≥ ‖g‖: unchanged"
            let e = Expect.throwsC (fun () -> Bilevel.clipNorm 0.0 g |> ignore) id
            Expect.stringContains e.Message "MaxGradNorm" "names the setting"
        }
        test "the bilevel hyper step applies MaxGradNorm to the gradient it hands to Adam, and reports the raw norm" {
            // Inner loss L_T = ½‖w - φ‖², outer L_V = ½‖w - t‖² at w = 0: H = I, so the hypergradient is large
            // for a far target t and the clip decides the gradient left in φ.grad.
            let run (clip: float option) =
                let w = torch.nn.Parameter (torch.zeros ([| 3L |], dtype = torch.float64))
                let phi = torch.nn.Parameter (torch.zeros ([| 3L |], dtype = torch.float64))
                let target = torch.tensor ([| 30.0; -40.0; 0.0 |], dtype = torch.float64)
                let halfSquare (d: Tensor) = (d * d).sum () * 0.5
                let trainLoss () = halfSquare ((w :> Tensor) - (phi :> Tensor))
                let outerLoss () = halfSquare ((w :> Tensor) - target)
                let settings = { Bilevel.Settings.Default with Inverse = Hypergradient.ConjugateGradient (10, 1e-12, 0.0); MaxGradNorm = clip }
                let trainer = Bilevel.Trainer ([| w :> Tensor |], [| phi |], torch.optim.SGD ([| w |], 0.0), settings)
                let _, reported = trainer.HyperStep (trainLoss, outerLoss)
                reported, phi.grad.data<float>().ToArray ()
            // ∂L_V/∂φ = 0, ∂L_V/∂w = w - t, H = I, ∂²L_T/∂w∂φ = -I: dL_V/dφ = 0 - (w - t) I (-I) = w - t = [-30, 40, 0].
            let rawNorm, rawGrad = run None
            Expect.floatClose Accuracy.high rawNorm 50.0 "‖[-30, 40, 0]‖ = 50"
            Assertions.allClose 1e-9 [| -30.0; 40.0; 0.0 |] rawGrad "unclipped hypergradient"
            let reported, clipped = run (Some 5.0)
            Expect.floatClose Accuracy.high reported 50.0 "the report gives the raw norm"
            Assertions.allClose 1e-9 [| -3.0; 4.0; 0.0 |] clipped "clipped to norm 5 along the same direction"
            let _, loose = run (Some 100.0)
            Assertions.allClose 0.0 rawGrad loose "a bound above the norm changes nothing"
            let p = torch.nn.Parameter (torch.zeros (2L))
            let e = Expect.throwsC (fun () -> Bilevel.Trainer ([| torch.nn.Parameter (torch.zeros (2L)) :> Tensor |], [| p |], torch.optim.SGD ([| p |], 0.1), { Bilevel.Settings.Default with MaxGradNorm = Some -1.0 }) |> ignore) id
            Expect.stringContains e.Message "MaxGradNorm" "names the field"
        }
        test "loss combiners check their input and keep weights positive" {
            use linear = new LinearLossCombiner (3, 0.5)
            Expect.sequenceEqual (linear.Weights.data<float32>().ToArray () |> Array.map (fun w -> System.Math.Round (float w, 5))) [| 0.5; 0.5; 0.5 |] "initial weights"
            let e = Expect.throwsC (fun () -> linear.forward (torch.ones (4L, 2L)) |> ignore) id
            Expect.stringContains e.Message "losses" "names the parameter"
            use nonlinear = new NonlinearLossCombiner (3, 8)
            let value = nonlinear.forward (torch.rand (5L, 3L))
            Expect.isTrue (value.ToDouble () >= 0.0) "softplus output is non-negative"
            Expect.equal (Seq.length (nonlinear.parameters ())) 8 "three hidden layers and an output layer (weights + biases)"
        }
    ]
