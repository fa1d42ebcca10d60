module Snn.Tests.SurrogateTests

open Expecto
open TorchSharp
open Snn

open Snn.Tests.Assertions

let private points = [| -3.0; -1.0; -0.25; -1e-9; 0.0; 1e-9; 0.3; 1.0; 4.0 |]

let private spikeSum (s: Surrogate) (x: torch.Tensor) = (Surrogate.spike s x).sum ()

let private familyTests (s: Surrogate) =
    testList (sprintf "%A" s) [
        test "forward is exactly Heaviside, H(0) = 1" {
            let x = torch.tensor(points).requires_grad_ true
            let expected = points |> Array.map (fun p -> if p >= 0.0 then 1.0 else 0.0)
            Expect.equal (values (Surrogate.spike s x)) expected "spike(x) = H(x) exactly"
        }
        test "backward is the closed-form derivative and a finite difference of the primitive" {
            let x = torch.tensor points
            let g = values (Diff.grad (spikeSum s) x)
            allClose 1e-12 (values (Surrogate.derivative s x)) g "closed form"
            let h = 1e-6
            let fd = values (((Surrogate.primitive s (x + h)) - (Surrogate.primitive s (x - h))) / (2.0 * h))
            // Across a kink (|x| < h or at a triangle's corner) the central difference errs by O(h·|g''|).
            allClose 1e-4 fd g "central difference of g"
        }
        test "second derivative via hvp matches a finite difference of g' (away from kinks)" {
            // Piecewise families have kinks (g'' jumps); compare where a small neighbourhood is smooth.
            let x = torch.tensor [| -3.0; -1.3; -0.25; 0.3; 0.7; 4.0 |]
            let ones = torch.ones_like x
            let second = values (Diff.hvp (spikeSum s) x ones)
            let h = 1e-5
            let fd = values (((Surrogate.derivative s (x + h)) - (Surrogate.derivative s (x - h))) / (2.0 * h))
            allClose 1e-6 fd second "g''"
            match s with
            | Rectangle _ | Asgl (LinearRamp, _, _) -> Expect.isTrue (second |> Array.forall (fun v -> v = 0.0)) "a boxcar has g'' = 0 almost everywhere"
            | _ -> Expect.isTrue (second |> Array.exists (fun v -> abs v > 1e-4)) "the second derivative is not identically zero"
        }
    ]

let tests =
    testList "Surrogate" [
        test "boxcar surrogates pass no gradient at the edges |x| = w/2, like the closed form and the fused kernel" {
            let w = 0.8
            // g'(x) = 1/w for |x| < w/2, else 0 (SpikingJelly's rectangle): the edges and beyond get 0.
            let points = [| -w; -w / 2.0; -w / 4.0; 0.0; w / 4.0; w / 2.0; w |]
            let expected = points |> Array.map (fun x -> if abs x < w / 2.0 then 1.0 / w else 0.0)
            for s in [ Rectangle w; Asgl (LinearRamp, torch.tensor w, 0.0) ] do
                use x = torch.tensor(points, dtype = torch.float64).requires_grad_ true
                let g = Diff.gradients [| (Surrogate.spike s x).sum () |] None [| x |] false false
                Expect.equal (values g.[0]) expected $"{s}: autograd gradient"
                Expect.equal (values (Surrogate.derivative s (x.detach ()))) expected $"{s}: closed form"
            // One IF step from 0 with threshold 1: ∂z/∂x = g'(x - 1), through the fused kernel and the reference.
            let width = 0.5
            let xs = [| 0.5; 0.75; 0.875; 1.0; 1.25; 1.5 |]
            let expectedIf = xs |> Array.map (fun x -> if abs (x - 1.0) < width / 2.0 then 1.0 / width else 0.0)
            let p = { Snn.Neurons.IfParameters.Default with Surrogate = Rectangle width }
            for kernel in [ Fused; Reference ] do
                use x = torch.tensor(xs |> Array.map float32).reshape(1L, 1L, int64 xs.Length).requires_grad_ true
                Diff.backward ((Dynamics.ifNeuron kernel p x).sum ())
                Expect.equal (values x.grad) expectedIf $"{kernel}: IF gradient at and inside the edges"
        }
        for s in [ Sigmoid 4.0; ATan 2.0; ATan 5.0; FastSigmoid 10.0; SuperSpike 10.0; Triangle 1.0; Rectangle 1.0
                   Gaussian 0.5; PiecewiseExp 2.0; SlayerExp (0.5, 1.0); SlayerExp (1.0, 3.0)
                   Asgl (LogisticRamp, torch.tensor 0.5, 0.0); Asgl (LinearRamp, torch.tensor 1.0, 0.0) ] do
            familyTests s
        test "ASGL with noise p outputs the analog H_alpha on about a fraction p of the elements" {
            torch.manual_seed 1L |> ignore
            let x = torch.linspace (-2.0, 2.0, 10000L, dtype = torch.float64)
            let out = values (Surrogate.spike (Asgl (LogisticRamp, torch.tensor 1.0, 0.3)) x)
            let analog = out |> Array.filter (fun v -> v <> 0.0 && v <> 1.0) |> Array.length
            Expect.floatClose { absolute = 0.02; relative = 0.0 } (float analog / 10000.0) 0.3 "fraction of analog outputs"
        }
        test "ASGL's learnable width receives a gradient" {
            let width = torch.tensor(0.5, dtype = torch.float64).requires_grad_ true
            let x = torch.tensor [| -0.3; 0.1; 0.4 |]
            let g = Diff.gradients [| (Surrogate.spike (Asgl (LogisticRamp, width, 0.0)) (x.requires_grad_ true) * torch.tensor [| 1.0; 2.0; 3.0 |]).sum () |] None [| width |] false false
            Expect.isTrue (abs (g.[0].ToDouble ()) > 0.0) "d/dwidth"
        }
        test "the ASGL noise schedule decays by gamma at each milestone" {
            Expect.floatClose Accuracy.veryHigh (Surrogate.asglNoiseAt 0.2 0.5 [ 10; 20 ] 5) 0.2 "before"
            Expect.floatClose Accuracy.veryHigh (Surrogate.asglNoiseAt 0.2 0.5 [ 10; 20 ] 10) 0.1 "after one"
            Expect.floatClose Accuracy.veryHigh (Surrogate.asglNoiseAt 0.2 0.5 [ 10; 20 ] 25) 0.05 "after two"
        }
        test "without a graph the spike is the plain Heaviside" {
            let x = torch.tensor [| -1.0; 0.0; 2.0 |]
            Expect.equal (values (Surrogate.spike (ATan 2.0) x)) [| 0.0; 1.0; 1.0 |] "H(x)"
        }
        test "invalid alpha is rejected with its name" {
            let e = Expect.throwsC (fun () -> Surrogate.validate (ATan 0.0) |> ignore) id
            Expect.stringContains e.Message "alpha" "names the parameter"
        }
    ]
