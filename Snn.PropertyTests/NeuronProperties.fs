/// Invariants of the neuron models beyond the LIF membrane equation: rest, superposition, time invariance,
/// bounds, spike counts, unrolling, batching and convergence of Euler integration.
module Snn.PropertyTests.NeuronProperties

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Snn
open Snn.Neurons
open Snn.PropertyTests.Generators

let private values (t: torch.Tensor) = Tensors.toFloat64Array t
let private close (tolerance: float) (a: float[]) (b: float[]) =
    Array.forall2 (fun p q -> abs (p - q) <= tolerance * (1.0 + abs q)) a b

/// Random LIF parameters (exact integration, hard reset) and a random input sequence [T; 1; 4].
let private lifCases =
    gen {
        let! tau = floatIn 1.0 50.0
        let! dt = floatIn 0.1 2.0
        let! threshold = floatIn 0.5 2.0
        let! steps = Gen.choose (2, 40)
        let! seed = Gen.choose (0, 100000)
        return { LifParameters.Default with TauMem = tau; Dt = dt; VThreshold = threshold }, steps, seed
    } |> Arb.fromGen

let private randomInput (seed: int) (steps: int) (scale: float) =
    use generator = new torch.Generator (uint64 seed)
    (torch.rand ([| int64 steps; 1L; 4L |], dtype = torch.float64, generator = generator) - 0.3) * scale

/// Membrane potentials [T; B; N] of a run (record every state's V).
let private potentials (p: LifParameters) (inputs: torch.Tensor) =
    let vs = Collections.Generic.List<torch.Tensor> ()
    Neuron.runRecorded (Lif.step p) (fun _ s -> vs.Add s.V) (Lif.initialState p inputs.[0]) inputs |> ignore
    torch.stack (vs, 0L)

let tests =
    testList "neurons" [
        testPropertyWithConfig config "with zero input the potential decays monotonically to rest and never spikes" <|
            Prop.forAll lifCases (fun (p, steps, seed) ->
                use generator = new torch.Generator (uint64 seed)
                let v0 = (torch.rand ([| 1L; 4L |], dtype = torch.float64, generator = generator) * 2.0 - 1.0) * p.VThreshold * 0.99
                let state = { Lif.initialState p v0 with V = v0 }
                let vs = Collections.Generic.List<float[]> ()
                let spikes, _ = Neuron.runRecorded (Lif.step p) (fun _ s -> vs.Add (values s.V)) state (torch.zeros ([| int64 steps; 1L; 4L |], dtype = torch.float64))
                let distances = vs |> Seq.map (Array.map abs) |> Seq.toArray
                (values spikes |> Array.forall ((=) 0.0))
                && (Array.append [| values v0 |> Array.map abs |] distances |> Array.pairwise |> Array.forall (fun (a, b) -> Array.forall2 (fun x y -> y <= x + 1e-15) a b)))

        testPropertyWithConfig config "below threshold the response is linear (superposition) and time-invariant" <|
            Prop.forAll lifCases (fun (p, steps, seed) ->
                let p = { p with Reset = NoReset; VThreshold = 1e6 }
                let a, b = randomInput seed steps 1.0, randomInput (seed + 1) steps 1.0
                let linear = close 1e-9 (values (potentials p (a * 2.0 + b))) (values (potentials p a * 2.0 + potentials p b))
                // Delaying the input by k steps delays the response by k steps.
                let k = 1 + seed % (steps - 1 |> max 1)
                let k = min k (steps - 1)
                let delayed = torch.cat ([| torch.zeros ([| int64 k; 1L; 4L |], dtype = torch.float64); a.[torch.TensorIndex.Slice (0L, int64 (steps - k))] |], 0L)
                let shifted = potentials p delayed
                let original = potentials p a
                linear && close 1e-9 (values shifted.[torch.TensorIndex.Slice (int64 k, int64 steps)]) (values original.[torch.TensorIndex.Slice (0L, int64 (steps - k))]))

        testPropertyWithConfig config "below threshold |v - v_rest| stays within max |x|" <|
            Prop.forAll lifCases (fun (p, steps, seed) ->
                let p = { p with Reset = NoReset; VThreshold = 1e6 }
                let x = randomInput seed steps 5.0
                let bound = (x.abs().max ()).ToDouble ()
                values (potentials p x) |> Array.forall (fun v -> abs (v - p.VRest) <= bound + 1e-12))

        testPropertyWithConfig config "IF with constant input I <= theta and soft reset fires floor(T I / theta) (+-1) spikes in T steps" <|
            // At most one spike per step, so I must not exceed θ.
            Prop.forAll (Gen.zip3 (floatIn 0.01 1.0) (floatIn 0.2 2.0) (Gen.choose (1, 200)) |> Arb.fromGen) (fun (ratio, theta, steps) ->
                let i = ratio * theta
                let p = { IfParameters.Default with Reset = Soft; VThreshold = theta }
                let count = (If.unroll p (torch.zeros ([| int64 steps; 1L |], dtype = torch.float64) + i)).sum().ToDouble ()
                abs (count - floor (float steps * i / theta)) <= 1.0)

        testPropertyWithConfig config "the spike count is non-increasing in the threshold" <|
            Prop.forAll lifCases (fun (p, steps, seed) ->
                let x = randomInput seed steps 4.0 |> torch.abs
                let count theta = (Lif.unroll { p with VThreshold = theta } x).sum().ToDouble ()
                count p.VThreshold >= count (p.VThreshold + 0.3))

        testPropertyWithConfig config "unroll equals folding step, and a batch equals its samples run one by one" <|
            Prop.forAll lifCases (fun (p, steps, seed) ->
                let x = randomInput seed steps 4.0
                let unrolled = Lif.unroll p x
                let mutable s = Lif.initialState p x.[0]
                let folded =
                    [| for t in 0 .. steps - 1 do
                        let s', z = Lif.step p s x.[t]
                        s <- s'
                        yield z |] |> fun zs -> torch.stack (zs, 0L)
                let batch = torch.cat ([| x; x * 0.5; x.flip (0L) |], 1L)
                let together = Lif.unroll p batch
                let apart = torch.cat ([| Lif.unroll p x; Lif.unroll p (x * 0.5); Lif.unroll p (x.flip (0L)) |], 1L)
                values unrolled = values folded && values together = values apart)

        testPropertyWithConfig { config with maxTest = 30 } "Euler converges to the analytic solution as dt -> 0 (first order); exact integration is exact" <|
            Prop.forAll (Gen.zip (floatIn 2.0 50.0) (floatIn -2.0 2.0) |> Arb.fromGen) (fun (tau, x) ->
                // Largest error over [0, 10 ms] of the sub-threshold response to a constant input, for dt = 1, 0.5,
                // 0.25 ms: first order, so halving dt must shrink it, and quartering it at least halves it (the
                // asymptotic factor 4 is not reached when dt/τ is large).
                let errorAt scheme dt =
                    let steps = int (round (10.0 / dt))
                    let p = { LifParameters.Default with TauMem = tau; Dt = dt; Scheme = scheme; Reset = NoReset; VThreshold = 1e6 }
                    let v = values ((potentials p (torch.zeros ([| int64 steps; 1L; 4L |], dtype = torch.float64) + x)).select(1L, 0L).select (1L, 0L))
                    v |> Array.mapi (fun k vk -> abs (vk - x * (1.0 - Math.Exp (-float (k + 1) * dt / tau)))) |> Array.max
                let e1, e2, e4 = errorAt ForwardEuler 1.0, errorAt ForwardEuler 0.5, errorAt ForwardEuler 0.25
                errorAt ExactExponential 1.0 <= 1e-12 && (abs x < 1e-6 || (e2 < e1 && e4 < e2 && e4 <= e1 / 2.0)))
    ]

/// The fused kernel against the reference for random parameters and inputs: spikes equal, gradients within 1e-5.
let fusedTests =
    let cases =
        gen {
            let! p, steps, seed = lifCases.Generator
            let! reset = Gen.elements [ Hard; Soft; NoReset ]
            let! detach = Gen.elements [ false; true ]
            let! scheme = Gen.elements [ ExactExponential; ForwardEuler ]
            let p = { p with Reset = reset; DetachReset = detach; Scheme = scheme; Dt = min p.Dt p.TauMem }
            return p, steps, seed
        } |> Arb.fromGen
    testPropertyWithConfig { config with maxTest = 60 } "the fused LIF kernel equals the pure step (values and gradients)" <|
        Prop.forAll cases (fun (p, steps, seed) ->
            let x = (randomInput seed steps 4.0).``to`` torch.float32
            use generator = new torch.Generator (uint64 seed + 1UL)
            let weights = torch.rand (x.shape, generator = generator)
            let run kernel =
                let leaf = x.detach().requires_grad_ true
                let z = Dynamics.lif kernel p leaf
                Diff.backward ((z * weights).sum ())
                values z, values leaf.grad
            let zr, gr = run Reference
            let zf, gf = run Fused
            zr = zf && Array.forall2 (fun a b -> abs (a - b) <= 1e-5 * (1.0 + abs a)) gr gf)
