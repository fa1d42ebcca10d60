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
    // TorchSharp objects are freed by their finalizers once unreachable, even while a native call still reads them
    // (heap corruption, bench/RESULTS.md round 16): the scope holds every intermediate tensor until the values are
    // read.
    use scope = torch.NewDisposeScope ()
    let w = centredUniform 7UL torch.float32 x.shape
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


/// Runs `body` with the fused kernels' process-wide switches set, restoring them afterwards.
let private withSettings (vectorised: bool) (parallelLoops: bool) (body: unit -> 'a) : 'a =
    let v, p = FusedKernelSettings.Vectorised, FusedKernelSettings.Parallel
    FusedKernelSettings.Vectorised <- vectorised
    FusedKernelSettings.Parallel <- parallelLoops
    try body () finally
        FusedKernelSettings.Vectorised <- v
        FusedKernelSettings.Parallel <- p

/// The SIMD and multi-core loops against the scalar single-threaded loop (and the reference). The switches are
/// process-wide, so these tests run sequenced; a concurrently running test only ever sees another correct path.
let private vectorTests =
    testSequenced <| testList "vectorised and parallel loops" [
        // 150 neurons: 18 full vectors of 8 (or 9 of 16) plus a tail; 5003: two parallel chunks, the second with a tail.
        for neurons in [ 150L; 5003L ] do
            for surrogate in [ ATan 2.0; Sigmoid 4.0; FastSigmoid 10.0; SuperSpike 5.0; Triangle 1.0; Rectangle 1.0; Gaussian 0.5; PiecewiseExp 2.0; SlayerExp (0.5, 2.0) ] do
                for reset in [ Hard; Soft ] do
                    test $"LIF {neurons} neurons, {surrogate}, {reset}: SIMD + cores = scalar loop" {
                        let p = { LifParameters.Default with TauMem = 2.0; Surrogate = surrogate; Reset = reset; Scheme = ForwardEuler; VReset = -0.1 }
                        torch.manual_seed 11L |> ignore
                        let x = torch.rand ([| 12L; neurons |]) * 2.5f - 0.3f
                        let zs, gs = withSettings false false (fun () -> run (Dynamics.lif Fused p) x)
                        let zv, gv = withSettings true true (fun () -> run (Dynamics.lif Fused p) x)
                        Expect.equal zv zs "spikes bit for bit"
                        Expect.isGreaterThan (Array.sum zs) 0.0 "the input makes neurons fire"
                        Expect.equal gv gs "gradients bit for bit"
                        let zr, gr = run (Lif.unroll p) x
                        Expect.equal zv zr "spikes = reference"
                        allClose 1e-5 gr gv "gradients = reference"
                    }
        for vectorised in [ true; false ] do
            test $"LIF and IF where no backward pass follows (no-gradient mode, or an input that needs none), vectorised {vectorised}: the spikes of the recording path" {
                torch.manual_seed 14L |> ignore
                // 5003 neurons: two parallel chunks, the second with a tail.
                let x = torch.rand ([| 9L; 3L; 5003L |]) * 2.5f - 0.3f
                for name, runner in [ "LIF", Dynamics.lif Fused { LifParameters.Default with TauMem = 2.0; Scheme = ForwardEuler; VReset = -0.1 }
                                      "IF", Dynamics.ifNeuron Fused { IfParameters.Default with Reset = Soft } ] do
                    let recorded, _ = withSettings vectorised true (fun () -> run runner x)
                    let plain = withSettings vectorised true (fun () -> runner x)
                    let noGrad =
                        withSettings vectorised true (fun () ->
                            use _ = torch.no_grad ()
                            runner (x.detach().requires_grad_ true))
                    Expect.isGreaterThan (Array.sum recorded) 0.0 $"{name}: the input makes neurons fire"
                    Expect.equal (values plain) recorded $"{name}: an input without gradient"
                    Expect.equal (values noGrad) recorded $"{name}: no-gradient mode"
                    Expect.isFalse plain.requires_grad $"{name}: nothing recorded for an input without gradient"
                    Expect.isFalse noGrad.requires_grad $"{name}: nothing recorded in no-gradient mode"
            }
        test "IF and exact-leak LIF on [T; B; N] with a tail: SIMD + cores = scalar loop" {
            torch.manual_seed 12L |> ignore
            let x = torch.rand ([| 9L; 7L; 611L |]) * 2.0f - 0.2f
            for name, runner in [ "IF", Dynamics.ifNeuron Fused { IfParameters.Default with Reset = Soft }
                                  "LIF", Dynamics.lif Fused { LifParameters.Default with TauMem = 3.0; DetachReset = true } ] do
                let zs, gs = withSettings false false (fun () -> run runner x)
                let zv, gv = withSettings true true (fun () -> run runner x)
                Expect.equal zv zs $"{name}: spikes"
                Expect.equal gv gs $"{name}: gradients"
        }
        for reset in [ Hard; Soft; NoReset ] do
            for detach in [ false; true ] do
                test $"CuLIF {reset}, detach {detach}, with a tail and two chunks: SIMD + cores = scalar loop = reference" {
                    torch.manual_seed 13L |> ignore
                    let p = { CuLifParameters.Default with TauSyn = 3.0; TauMem = 5.0; Reset = reset; DetachReset = detach; VReset = -0.1; Surrogate = ATan 2.0 }
                    let x = torch.rand ([| 10L; 3L; 1701L |]) * 3.0f - 0.4f
                    let zs, gs = withSettings false false (fun () -> run (Dynamics.cuLif Fused p) x)
                    let zv, gv = withSettings true true (fun () -> run (Dynamics.cuLif Fused p) x)
                    Expect.equal zv zs "spikes bit for bit"
                    Expect.isGreaterThan (Array.sum zs) 0.0 "the input makes neurons fire"
                    Expect.equal gv gs "gradients bit for bit"
                    let zr, gr = run (CuLif.unroll p) x
                    Expect.equal zv zr "spikes = reference"
                    allClose 1e-5 gr gv "gradients = reference"
                }
    ]

/// s'(x) in float64 from each family's published formula, written out here independently of the kernels.
let private publishedDerivative (surrogate: Surrogate) (x: float) : float =
    match surrogate with
    | Sigmoid a -> let e = 1.0 / (1.0 + exp (-a * x)) in a * e * (1.0 - e)
    | ATan a -> a / 2.0 / (1.0 + (System.Math.PI / 2.0 * a * x) ** 2.0)
    | FastSigmoid a -> a / (2.0 * (1.0 + a * abs x) ** 2.0)
    | SuperSpike b -> 1.0 / (1.0 + b * abs x) ** 2.0
    | Triangle w -> max 0.0 (1.0 - abs x / w) / w
    | Rectangle w -> if abs x < w / 2.0 then 1.0 / w else 0.0
    | Gaussian s -> exp (-x * x / (2.0 * s * s)) / (s * sqrt (2.0 * System.Math.PI))
    | PiecewiseExp a -> a / 2.0 * exp (-a * abs x)
    | SlayerExp (tau, scale) -> scale / (2.0 * tau) * exp (-abs x / tau)
    | Asgl _ -> nan

let private bits (x: float32) = System.BitConverter.SingleToInt32Bits x

/// The scalar and SIMD surrogate derivatives of the fused kernels are one formula: on a grid of x, every family's
/// vector lanes equal the scalar values bit for bit, and both follow the published formula. Their exp is the
/// kernels' own float32 one, checked against float64's.
let private derivativeTests =
    testList "surrogate derivatives: scalar = SIMD" [
        let width = System.Numerics.Vector<float32>.Count
        // x = k/64 on [-6, 6] (exact in float32, hits the rectangle and triangle edges ±w/2, ±w), padded to whole vectors.
        let grid =
            let points = [| for k in -384 .. 384 -> float32 k / 64.0f |]
            Array.append points (Array.create ((width - points.Length % width) % width) 0.0f)
        for surrogate in [ ATan 2.0; Sigmoid 4.0; FastSigmoid 10.0; SuperSpike 5.0; Triangle 1.0; Rectangle 1.0; Gaussian 0.5; PiecewiseExp 2.0; SlayerExp (0.5, 2.0) ] do
            test $"{surrogate}" {
                let scalar = (SurrogateDerivatives.scalar surrogate).Value
                let vector = (SurrogateDerivatives.vector surrogate).Value
                let scalarValues = Array.map scalar grid
                let vectorValues =
                    [| for i in 0 .. width .. grid.Length - 1 do
                           let v = vector (System.Numerics.Vector<float32> (grid, i))
                           for lane in 0 .. width - 1 -> v.[lane] |]
                Expect.equal (Array.map bits vectorValues) (Array.map bits scalarValues) "SIMD = scalar, bit for bit"
                for x, s in Array.zip grid scalarValues do
                    let expected = publishedDerivative surrogate (float x)
                    Expect.isLessThanOrEqual (abs (float s - expected)) (1e-6 * max 1.0 (abs expected)) $"s'({x}) = published formula"
                Expect.isGreaterThan (Array.max scalarValues) 0.0f "the grid reaches the non-zero part"
            }
        test "the kernels' exp: within 2 units in the last place, overflow, underflow, NaN" {
            let width = System.Numerics.Vector<float32>.Count
            let scalarExp (x: float32) : float32 = Lanes.ExpOf x
            let vectorExp (x: float32) : float32 = (Lanes.ExpOf (System.Numerics.Vector<float32> x)).[width - 1]
            // Every 997th float32 bit pattern from -86.9 to 88.72 (about 1.1 million values), and the integers.
            let lo, hi = System.BitConverter.SingleToInt32Bits -86.9f, System.BitConverter.SingleToInt32Bits 88.72f
            let negatives = [| for b in lo .. -997 .. System.BitConverter.SingleToInt32Bits 1e-30f -> System.BitConverter.Int32BitsToSingle b |]
            let positives = [| for b in 0 .. 997 .. hi -> System.BitConverter.Int32BitsToSingle b |]
            let points = Array.concat [ negatives; positives; [| for k in -86 .. 88 -> float32 k |] ]
            let mutable worst = 0.0
            for x in points do
                let exact = exp (float x)
                let ulp = float (System.MathF.BitIncrement (float32 exact) - float32 exact)
                let e = scalarExp x
                worst <- max worst (abs (float e - exact) / ulp)
                Expect.equal (bits (vectorExp x)) (bits e) $"SIMD = scalar at {x}"
            Expect.isLessThanOrEqual worst 2.0 "units in the last place"
            Expect.isGreaterThan worst 0.0 "the grid reaches rounded values"
            Expect.equal (scalarExp 0.0f) 1.0f "e^0"
            for x in [ 88.73f; 89.0f; 1000.0f; infinityf ] do Expect.equal (scalarExp x) infinityf $"e^{x} overflows"
            for x in [ -87.5f; -1000.0f; -infinityf ] do Expect.equal (scalarExp x) 0.0f $"e^{x} underflows to +0"
            Expect.isTrue (System.Single.IsNaN (scalarExp nanf)) "NaN"
            Expect.isTrue (System.Single.IsNaN (vectorExp nanf)) "NaN (SIMD)"
        }
        test "ASGL has no fused derivative" {
            Expect.isNone (SurrogateDerivatives.scalar (Asgl (LogisticRamp, torch.ones 3L, 0.0))) "scalar"
            Expect.isNone (SurrogateDerivatives.vector (Asgl (LogisticRamp, torch.ones 3L, 0.0))) "vector"
        }
    ]

/// The fused CPU kernels on other devices: the dispatch decision, and a run on the `meta` device (shapes without
/// storage, so a CUDA-less machine can check that the reference path keeps the input's device).
let deviceTests =
    testList "device dispatch" [
        test "the fused kernels run only float32 CPU tensors" {
            Expect.isTrue (Dynamics.fusedRuns DeviceType.CPU torch.float32) "CPU float32"
            Expect.isFalse (Dynamics.fusedRuns DeviceType.CUDA torch.float32) "CUDA takes the reference path"
            Expect.isFalse (Dynamics.fusedRuns DeviceType.META torch.float32) "meta takes the reference path"
            Expect.isFalse (Dynamics.fusedRuns DeviceType.CPU torch.float64) "float64 takes the reference path"
        }
        test "a float64 input to the fused kernel runs the reference (same spikes)" {
            let x = (inputs 7L).``to`` torch.float64
            let p = { LifParameters.Default with TauMem = 4.0 }
            Expect.equal (values (Dynamics.lif Fused p x)) (values (Lif.unroll p x)) "reference spikes"
        }
    ]

let tests =
    testList "Dynamics (fused kernel)" [
        vectorTests
        derivativeTests
        deviceTests
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
                    let weights = centredUniform 9UL torch.float32 x.shape
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
        test "an exception inside a fused backward returns after backward as an exception, not a process abort" {
            // The reproducer: PLIF's weight changed in place under no_grad after the forward pass; libtorch's version
            // check then fails inside the custom function's backward callback, which used to kill the process.
            let p = PlifParameters.Default
            use w = torch.tensor(float32 (Plif.initialWeight p)).requires_grad_ true
            use generator = new torch.Generator (3UL)
            use x = (torch.rand ([| 6L; 2L; 4L |], generator = generator) * 3.0f).requires_grad_ true
            let z = Dynamics.plif Fused p w x
            let bump () =
                use _ = torch.no_grad ()
                w.add_ (torch.tensor 1.0f) |> ignore
            bump ()
            let e = Expect.throwsC (fun () -> Diff.backward (z.sum ())) id
            Expect.isTrue (e :? System.InvalidOperationException) $"InvalidOperationException, got {e.GetType().Name}: {e.Message}"
            Expect.stringContains e.Message "SnnFusedPlif" "names the autograd node"
            Expect.isFalse (e.Message.Contains '\n') "one line"
            // Nothing is left pending: the next backward runs normally.
            use x2 = torch.ones([| 3L; 1L; 2L |], requires_grad = true)
            let lif = { LifParameters.Default with TauMem = 2.0; Dt = 1.0; VThreshold = 0.5 }
            Diff.backward ((Dynamics.lif Fused lif x2).sum ())
            Expect.isNotNull (box x2.grad) "gradient after a clean backward"
        }
    ]
