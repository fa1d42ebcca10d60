/// The fused IF/LIF kernel against the reference per-step functions: same spikes, same gradients (to 1e-5).
module Snn.Tests.DynamicsTests

open Expecto
open TorchSharp
open Snn
open Snn.Neurons
open Snn.Tests.Assertions

let private inputs (seed: int64) =
    torch.manual_seed seed |> ignore
    torch.rand ([| 16L; 3L; 50L |]) * 2.5f - 0.3f

/// Spikes and ∂(Σ w·z)/∂x of a runner, with fixed random weights w so every spike's gradient matters.
let private run (runner: torch.Tensor -> torch.Tensor) (x: torch.Tensor) =
    let w = (torch.rand (x.shape, generator = new torch.Generator (7UL))) - 0.5f
    let leaf = x.detach().requires_grad_ true
    let z = runner leaf
    Diff.backward ((z * w).sum ())
    values z, values leaf.grad

let private agree (name: string) (reference: torch.Tensor -> torch.Tensor) (fused: torch.Tensor -> torch.Tensor) (x: torch.Tensor) =
    let zr, gr = run reference x
    let zf, gf = run fused x
    Expect.equal zf zr $"{name}: spikes"
    Expect.isGreaterThan (Array.sum zr) 0.0 $"{name}: the input makes neurons fire"
    allClose 1e-5 gr gf $"{name}: gradients"

let tests =
    testList "Dynamics (fused kernel)" [
        for reset in [ Hard; Soft; NoReset ] do
            for detach in [ false; true ] do
                for scheme in [ ExactExponential; ForwardEuler ] do
                    test $"LIF {reset}, detach {detach}, {scheme}" {
                        let p = { LifParameters.Default with TauMem = 4.0; Reset = reset; DetachReset = detach; Scheme = scheme; VReset = -0.2; VRest = 0.1 }
                        agree "LIF" (Lif.unroll p) (Dynamics.lif Fused p) (inputs 1L)
                    }
        for surrogate in [ Sigmoid 4.0; FastSigmoid 10.0; SuperSpike 5.0; Triangle 1.0; Rectangle 1.0; Gaussian 0.5; PiecewiseExp 2.0; SlayerExp (0.5, 2.0) ] do
            test $"LIF with {surrogate}" {
                let p = { LifParameters.Default with Surrogate = surrogate; Reset = Soft }
                agree "LIF" (Lif.unroll p) (Dynamics.lif Fused p) (inputs 2L)
            }
        for reset in [ Hard; Soft; NoReset ] do
            test $"CuLIF {reset}" {
                let p = { CuLifParameters.Default with Reset = reset; VThreshold = 2.0; DetachReset = (reset = Hard) }
                agree "CuLIF" (CuLif.unroll p) (Dynamics.cuLif Fused p) (inputs 5L)
            }
        for shape in [ [||]; [| 50L |] ] do
            for reset in [ Hard; Soft ] do
                test $"PLIF {reset}, weight shape %A{shape}: spikes and gradients for x and w" {
                    let p = { PlifParameters.Default with InitialTau = 3.0; Reset = reset }
                    let w0 = torch.zeros (shape) + float32 (Plif.initialWeight p)
                    let x = inputs 6L
                    let weights = (torch.rand (x.shape, generator = new torch.Generator (9UL))) - 0.5f
                    let run kernel =
                        let w = w0.detach().requires_grad_ true
                        let leaf = x.detach().requires_grad_ true
                        let z = Dynamics.plif kernel p w leaf
                        Diff.backward ((z * weights).sum ())
                        values z, values leaf.grad, values w.grad
                    let zr, gxr, gwr = run Reference
                    let zf, gxf, gwf = run Fused
                    Expect.equal zf zr "spikes"
                    allClose 1e-5 gxr gxf "∂/∂x"
                    allClose 1e-4 gwr gwf "∂/∂w"
                    Expect.isTrue (gwr |> Array.exists (fun g -> abs g > 1e-3)) "w receives a real gradient"
                }
        test "IF with soft reset" {
            let p = { IfParameters.Default with Reset = Soft }
            agree "IF" (If.unroll p) (Dynamics.ifNeuron Fused p) (inputs 3L * 0.5f)
        }
        test "unsupported options fall back to the reference" {
            let p = { LifParameters.Default with RefractorySteps = 2 }
            Expect.isError (Dynamics.lifSpec p) "refractory period"
            let x = inputs 4L
            Expect.equal (values (Dynamics.lif Fused p x)) (values (Lif.unroll p x)) "same result through the fallback"
        }
    ]
